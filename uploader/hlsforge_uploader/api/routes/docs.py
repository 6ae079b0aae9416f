"""``/docs`` and ``/openapi.json`` behind a bearer token (``HLSFORGE_DOCS=token``).

With ``public`` FastAPI serves them itself; with ``off`` nothing does. Behind a token, the
Swagger page cannot fetch the schema from a browser (a navigation sends no bearer): it is for
clients that send the token, as the schema itself is."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from hlsforge_uploader.api.deps import CallerDep

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
async def openapi(request: Request, _: CallerDep) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def docs(request: Request, _: CallerDep) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=request.app.title)
