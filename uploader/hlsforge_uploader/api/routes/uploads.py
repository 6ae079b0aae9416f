"""``POST /v1/uploads``: stream a video in, check it, create its TranscodeJob.

The body is read with ``request.stream()`` (raw) or through the streaming multipart reader:
never ``UploadFile``, which spools the whole body before this code runs. This module checks
what can be checked before the body (auth, declared size, options, the Idempotency-Key);
``uploads.streamed`` handles the bytes and the job.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from hlsforge_uploader.api.deps import CallerDep, ClientsDep, SettingsDep, UrlsDep
from hlsforge_uploader.api.helpers import created_response, parse_options
from hlsforge_uploader.auth.callers import Caller
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import ApiError, BadRequest, IdempotencyConflict, InsufficientStorage
from hlsforge_uploader.jobs.view import Urls
from hlsforge_uploader.models import UploadCreated
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.uploads import idempotency as idem
from hlsforge_uploader.uploads.acceptance import get_job
from hlsforge_uploader.uploads.body import has_room, too_large
from hlsforge_uploader.uploads.form import MultipartReader, boundary_of
from hlsforge_uploader.uploads.streamed import Receiver, complete, receive

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The video: the raw bytes, or multipart/form-data with a `file` part "
        "and an optional `options` field (JSON, the same as the `options` query parameter).",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "options": {"type": "string", "description": "UploadOptions as JSON"},
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=UploadCreated,
    openapi_extra=_BODY_DOC,
    responses={
        413: {"description": "The upload exceeds the size limit"},
        429: {"description": "A quota of this token is spent (see Retry-After)"},
        503: {"description": "This uploader streams as many uploads as it may (Retry-After)"},
        422: {"description": "Not a video we accept, invalid options, or a reused key"},
        409: {"description": "A request with this Idempotency-Key is in progress"},
    },
)
async def create_upload(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    clients: ClientsDep,
    urls: UrlsDep,
    options: Annotated[str | None, Query(description="UploadOptions as JSON")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=idem.MAX_KEY_LENGTH)] = None,
) -> JSONResponse:
    """Upload a video and create its TranscodeJob; returns where to follow and play it."""
    length = request.headers.get("content-length") or ""
    declared = int(length) if length.isdigit() and len(length) <= 19 else None
    try:
        # The token's quotas, then this replica's room, before a byte of the body is read
        # (429 / 503, both with Retry-After).
        with clients.quotas.upload(caller, declared, time.time()), clients.upload_slots.hold():
            return await _create(request, caller, settings, clients, urls, options, idempotency_key)
    except ApiError as exc:
        clients.metrics.rejections.labels(getattr(exc, "reason", None) or exc.code).inc()
        raise


async def _create(
    request: Request,
    caller: Caller,
    settings: UploaderSettings,
    clients: Clients,
    urls: Urls,
    options_text: str | None,
    key: str | None,
) -> JSONResponse:
    started = time.monotonic()
    length = request.headers.get("content-length")
    declared = int(length) if length is not None and length.isdigit() else None
    if declared is not None and declared > settings.max_upload_bytes:
        raise too_large(settings.max_upload_bytes)
    free = await to_thread.run_sync(clients.storage.free_bytes)
    if not has_room(free, declared, settings.min_free_bytes):
        raise InsufficientStorage(
            f"the media volume has {free} bytes free; an upload must leave "
            f"{settings.min_free_bytes}" + (f" after its {declared} bytes" if declared else "")
        )
    boundary = boundary_of(request.headers.get("content-type", ""))
    limits = settings.job_limits

    def check_field(name: str, value: str) -> None:
        if name == "options":  # fail fast when the options precede the file part
            parse_options(value, limits)

    reader = (
        MultipartReader(
            boundary, settings.max_form_field_bytes, settings.max_form_fields_bytes, check_field
        )
        if boundary
        else None
    )
    query_options = parse_options(options_text, limits)  # fail fast, before reading the body

    hashed = idem.key_hash(caller.name, key) if key is not None else None
    inflight: set[str] = request.app.state.inflight_keys
    existing: dict[str, Any] | None = None
    if hashed is not None:
        if hashed in inflight:
            raise IdempotencyConflict("a request with this Idempotency-Key is still in progress")
        inflight.add(hashed)
    try:
        if hashed is not None:
            upload_id = idem.upload_id_for_key(hashed)
            existing = await get_job(clients, upload_id)
        else:
            upload_id = idem.new_upload_id()
        receiver = Receiver(
            clients, settings, upload_id, existing is None, hashed is not None, caller.name
        )
        try:
            await receive(
                request.stream(),
                receiver,
                reader,
                settings.body_idle_timeout_seconds,
                settings.body_min_bytes_per_second,
            )
            opts = query_options
            if reader is not None and "options" in reader.fields:
                opts = parse_options(reader.fields["options"], limits)
            job, replayed = await complete(receiver, clients, opts, hashed, existing)
        except ClientDisconnect:
            await receiver.abort()
            raise BadRequest("the client disconnected before the upload ended") from None
        except BaseException:
            await receiver.abort()
            raise
        if not replayed:
            clients.metrics.upload_duration.observe(time.monotonic() - started)
        return created_response(job, urls, replayed)
    finally:
        if hashed is not None:
            inflight.discard(hashed)
