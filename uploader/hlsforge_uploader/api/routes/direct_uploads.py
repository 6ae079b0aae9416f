"""Direct uploads (S3 only): ``POST /v1/uploads/direct`` hands out a presigned PUT, the client
sends its file straight to the object store, ``POST /v1/uploads/{id}/complete`` checks it and
creates its TranscodeJob. The rules are in ``uploads.direct``; this module reads the request.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from hlsforge_uploader.api.deps import CallerDep, ClientsDep, SettingsDep, UrlsDep
from hlsforge_uploader.api.helpers import check_id, created_response, parse_options
from hlsforge_uploader.api.openapi import OPTIONS_REF
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import (
    ApiError,
    BadRequest,
    IdempotencyConflict,
    InvalidMedia,
    InvalidOptions,
    NotFound,
    TooLarge,
)
from hlsforge_uploader.models import DirectUploadCreated
from hlsforge_uploader.settings import UploaderSettings
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
        400: {"description": "No size, or a size that is not a byte count"},
        413: {"description": "The declared size exceeds the size limit"},
        422: {"description": "Invalid options"},
        429: {"description": "This token holds its limit of tickets, or spent its hourly bytes"},
        501: {"description": "The storage backend offers no direct uploads (volume)"},
    },
)
async def create_direct_upload(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    clients: ClientsDep,
    size: Annotated[
        int | None,
        Query(ge=1, le=1 << 50, description="The file's exact size in bytes (required; signed)"),
    ] = None,
) -> JSONResponse:
    """Start a direct upload: PUT the file, exactly ``size`` bytes, to ``url`` (with
    ``headers``) before ``expiresAt``, then POST to ``complete``."""
    direct.direct_of(clients)
    if size is None:
        raise BadRequest("size is required: the exact size in bytes of the file to be PUT")
    upload_id = new_upload_id()
    now = time.time()
    clients.quotas.check_bytes(caller, 1, now)  # a token over its hour gets no new ticket
    clients.quotas.reserve_ticket(caller, upload_id, now, TICKET_RESERVE_SECONDS)
    try:
        return await _start(request, settings, clients, upload_id, size)
    except BaseException:
        clients.quotas.drop_ticket(upload_id)
        raise


TICKET_RESERVE_SECONDS = 3600
"""How long a ticket counts against its token until its real expiry is known."""


async def _start(
    request: Request, settings: UploaderSettings, clients: Clients, upload_id: str, size: int
) -> JSONResponse:
    opts = parse_options(
        await _small_body(request, settings.max_form_field_bytes), settings.job_limits
    )
    ticket = await direct.start(clients, upload_id, opts, size, settings.max_upload_bytes)
    clients.quotas.confirm_ticket(upload_id, ticket.expires_at.timestamp())
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
        422: {"description": "Not a video we accept, or not the declared size (it was deleted)"},
        501: {"description": "The storage backend offers no direct uploads (volume)"},
    },
)
async def complete_direct_upload(
    upload_id: str,
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    clients: ClientsDep,
    urls: UrlsDep,
) -> JSONResponse:
    """Check the uploaded file and create its TranscodeJob; a repeated call answers with the
    same job (``replayed: true``)."""
    direct.direct_of(clients)
    check_id(upload_id)
    clients.quotas.check_ticket_owner(caller, upload_id)
    inflight: set[str] = request.app.state.inflight_keys
    key = f"direct:{upload_id}"
    if key in inflight:
        raise IdempotencyConflict(f"{upload_id} is being completed by another request")
    inflight.add(key)
    try:
        job, replayed = await direct.finish(
            clients,
            upload_id,
            settings.max_upload_bytes,
            owner=caller.name,
            takeover_s=settings.idempotency_takeover_seconds,
        )
        if replayed and not caller.owns(job):  # another token's upload: as if none
            raise NotFound(f"no direct upload {upload_id!r}")
    except ApiError as exc:
        if isinstance(exc, NotFound | TooLarge | InvalidMedia | InvalidOptions):
            clients.quotas.drop_ticket(upload_id)  # the ticket is used up or gone
        clients.metrics.rejections.labels(getattr(exc, "reason", None) or exc.code).inc()
        raise
    finally:
        inflight.discard(key)
    clients.quotas.drop_ticket(upload_id)
    return created_response(job, urls, replayed)
