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
        # Large bodies are streamed by the route; h11 keeps the read buffer small.
        http="h11",
        ws="websockets-sansio",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
