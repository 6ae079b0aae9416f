"""Direct uploads (S3 only): ``POST /v1/uploads/direct`` hands out a presigned PUT, the client
sends its file straight to the object store, ``POST /v1/uploads/{id}/complete`` checks it and
creates its TranscodeJob. The rules are in ``uploads.direct``; this module reads the request.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hlsforge_uploader.api.deps import ClientsDep, SettingsDep, TokenDep, UrlsDep
from hlsforge_uploader.api.helpers import check_id, created_response, parse_options
from hlsforge_uploader.api.openapi import OPTIONS_REF
from hlsforge_uploader.errors import ApiError, IdempotencyConflict, TooLarge
from hlsforge_uploader.models import DirectUploadCreated
from hlsforge_uploader.uploads import direct
from hlsforge_uploader.uploads.idempotency import new_upload_id

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

_OPTIONS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "description": "UploadOptions as JSON, the same as `options` of `POST /v1/uploads`; "
        "an empty body means the defaults.",
        "content": {"application/json": {"schema": OPTIONS_REF}},
    }
}


async def _small_body(request: Request, limit: int) -> str:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise TooLarge(f"the options exceed {limit} bytes")
    return data.decode("utf-8", "replace")


@router.post(
    "/direct",
    status_code=201,
    response_model=DirectUploadCreated,
    openapi_extra=_OPTIONS_BODY,
    responses={
        422: {"description": "Invalid options"},
        501: {"description": "The storage backend offers no direct uploads (volume)"},
    },
)
async def create_direct_upload(
    request: Request, _: TokenDep, settings: SettingsDep, clients: ClientsDep
) -> JSONResponse:
    """Start a direct upload: PUT the file to ``url`` (with ``headers``) before
    ``expiresAt``, then POST to ``complete``."""
    direct.direct_of(clients)
    opts = parse_options(
        await _small_body(request, settings.max_form_field_bytes), settings.job_limits
    )
    upload_id = new_upload_id()
    ticket = await direct.start(clients, upload_id, opts)
    body = DirectUploadCreated(
        id=upload_id,
        url=ticket.url,
        headers=ticket.headers,
        expires_at=ticket.expires_at,
        complete=f"/v1/uploads/{upload_id}/complete",
    )
    return JSONResponse(body.to_wire(), status_code=201, headers={"Cache-Control": "no-store"})


@router.post(
    "/{upload_id}/complete",
    status_code=201,
    responses={
        404: {"description": "No such pending direct upload"},
        409: {"description": "Nothing was PUT yet, or another completion is in progress"},
        413: {"description": "The file exceeds the size limit (it was deleted)"},
        422: {"description": "Not a video we accept (it was deleted)"},
        501: {"description": "The storage backend offers no direct uploads (volume)"},
    },
)
async def complete_direct_upload(
    upload_id: str,
    request: Request,
    _: TokenDep,
    settings: SettingsDep,
    clients: ClientsDep,
    urls: UrlsDep,
) -> JSONResponse:
    """Check the uploaded file and create its TranscodeJob; a repeated call answers with the
    same job (``replayed: true``)."""
    direct.direct_of(clients)
    check_id(upload_id)
    inflight: set[str] = request.app.state.inflight_keys
    key = f"direct:{upload_id}"
    if key in inflight:
        raise IdempotencyConflict(f"{upload_id} is being completed by another request")
    inflight.add(key)
    try:
        job, replayed = await direct.finish(clients, upload_id, settings.max_upload_bytes)
    except ApiError as exc:
        clients.metrics.rejections.labels(getattr(exc, "reason", None) or exc.code).inc()
        raise
    finally:
        inflight.discard(key)
    return created_response(job, urls, replayed)
