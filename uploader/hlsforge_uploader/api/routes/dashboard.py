"""The dashboard: one static page. It holds no data; it asks for the token and calls the API."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from hlsforge_uploader.api.deps import SettingsDep
from hlsforge_uploader.errors import NotFound

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/")
async def index(settings: SettingsDep) -> FileResponse:
    page = settings.static_dir / "index.html"
    if not page.is_file():
        raise NotFound("the dashboard is not installed")
    return FileResponse(
        page,
        headers={
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; "
            "worker-src 'self' blob:; connect-src 'self' ws: wss:; img-src 'self' data: blob:",
        },
    )
