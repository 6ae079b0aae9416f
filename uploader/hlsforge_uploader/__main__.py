"""``python -m hlsforge_uploader``: serve the uploader with uvicorn (settings: HLSFORGE_*)."""

from __future__ import annotations

import logging

import uvicorn

from hlsforge_uploader.app import create_app
from hlsforge_uploader.server import HttpLimits, protocol_class, raise_open_files_limit
from hlsforge_uploader.settings import get_settings

OTHER_FILES = 256
"""Descriptors besides client connections: the Kubernetes API, storage, uploads being written."""


def main() -> None:
    settings = get_settings()
    limits = HttpLimits(
        header_timeout=settings.http_header_timeout_seconds,
        max_header_bytes=settings.http_max_header_bytes,
        max_headers=settings.http_max_headers,
        max_connections=settings.http_max_connections,
    )
    files = raise_open_files_limit(settings.http_max_connections + OTHER_FILES)
    if files < settings.http_max_connections + OTHER_FILES:
        logging.getLogger("hlsforge.server").warning(
            "RLIMIT_NOFILE is %d: fewer than %d connections fit",
            files,
            settings.http_max_connections,
        )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # httptools (the uploader extra installs it): ~25% less CPU per GiB uploaded than h11
        # (bench/upload.py); wrapped with the header deadline, head caps and connection cap
        # uvicorn lacks (server.py). uvicorn's limit_concurrency is left off: it answers 503
        # only after the headers, so under a slowloris flood it would refuse the prompt client.
        http=protocol_class(limits),
        ws="websockets-sansio",
        timeout_keep_alive=settings.http_keepalive_timeout_seconds,
        backlog=settings.http_backlog,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
