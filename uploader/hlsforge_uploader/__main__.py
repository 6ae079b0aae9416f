"""``python -m hlsforge_uploader``: serve the uploader with uvicorn (settings: HLSFORGE_*)."""

from __future__ import annotations

import uvicorn

from hlsforge_uploader.app import create_app
from hlsforge_uploader.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # httptools when installed (the uploader extra installs it): ~25% less CPU per GiB
        # uploaded than h11 (bench/upload.py); h11 otherwise.
        http="auto",
        ws="websockets-sansio",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
