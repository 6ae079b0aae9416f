"""``POST /v1/uploads``: stream a video in, check it, create its TranscodeJob.

The body is read with ``request.stream()`` (raw) or through the streaming multipart reader:
never ``UploadFile``, which spools the whole body before this code runs. Bytes are counted as
they arrive (413 the moment the cap is crossed), the head is sniffed before a storage file
exists, ffprobe checks the complete file under the engine's rules, and only then is the
upload committed under its generated name and its job created.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from hlsforge_transcoder.errors import InvalidInput, TranscodeError
from hlsforge_transcoder.limits import DEFAULT_LIMITS
from hlsforge_transcoder.probe import run_probe, validate
from hlsforge_uploader import idempotency as idem
from hlsforge_uploader.api.deps import Clients, ClientsDep, SettingsDep, TokenDep, UrlsDep
from hlsforge_uploader.errors import (
    ApiError,
    BadRequest,
    IdempotencyConflict,
    InvalidMedia,
    InvalidOptions,
    StorageFailed,
    UpstreamFailed,
)
from hlsforge_uploader.ingest import Ingest, too_large
from hlsforge_uploader.jobs import Urls, build_job, view
from hlsforge_uploader.k8s import JobExists, JobRejected, KubeError
from hlsforge_uploader.models import UploadCreated, UploadOptions
from hlsforge_uploader.multipart import MultipartReader, boundary_of
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.storage import AlreadyCommitted, StorageError, UploadSink

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


def parse_options(text: str | None) -> UploadOptions:
    """``UploadOptions`` from JSON; an empty value means the defaults."""
    if not text:
        return UploadOptions()
    try:
        return UploadOptions.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidOptions(problems) from None


class _Receiver:
    """One upload in flight: owns its sink, so every failure path removes the partial file."""

    def __init__(
        self, clients: Clients, settings: UploaderSettings, upload_id: str, store: bool, keyed: bool
    ) -> None:
        self.clients = clients
        self.upload_id = upload_id
        self.store = store
        self.ingest = Ingest(settings.max_upload_bytes, settings.write_buffer_bytes, digest=keyed)
        self.sink: UploadSink | None = None

    async def take(self, data: bytes) -> None:
        await self._write(self.ingest.feed(data))

    async def finish(self) -> None:
        await self._write(self.ingest.finish())

    async def _write(self, batches: list[bytes]) -> None:
        if not self.store or not self.ingest.ready_to_store:
            return
        if self.sink is None:
            extension = self.ingest.extension
            self.sink = await to_thread.run_sync(
                self.clients.storage.begin_upload, self.upload_id, extension
            )
        for batch in batches:
            await to_thread.run_sync(self.sink.write, batch)

    async def abort(self) -> None:
        if self.sink is not None:
            await to_thread.run_sync(self.sink.abort)


async def _receive(request: Request, receiver: _Receiver, reader: MultipartReader | None) -> None:
    metrics = receiver.clients.metrics
    async for chunk in request.stream():
        metrics.upload_bytes.inc(len(chunk))
        if reader is None:
            await receiver.take(chunk)
        else:
            for part in reader.feed(chunk):
                await receiver.take(part)
    if reader is not None:
        reader.finish()
    await receiver.finish()


def _probe(sink: UploadSink, container: str) -> None:
    try:
        validate(run_probe(sink.local_path, DEFAULT_LIMITS), DEFAULT_LIMITS, container)
    except InvalidInput as exc:
        raise InvalidMedia(exc.reason, exc.message) from None
    except TranscodeError as exc:
        raise StorageFailed(f"cannot probe the upload: {exc.message}") from None


def _created(obj: dict[str, Any], urls: Urls, replayed: bool) -> JSONResponse:
    job = view(obj, urls)
    body = UploadCreated(
        id=job.id,
        status_url=job.status_url,
        events_url=job.events_url,
        playback_url=job.playback_url,
        job=job,
        replayed=replayed,
    )
    headers = {"Location": job.status_url}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body.to_wire(), status_code=201, headers=headers)


@router.post(
    "",
    status_code=201,
    response_model=UploadCreated,
    openapi_extra=_BODY_DOC,
    responses={
        413: {"description": "The upload exceeds the size limit"},
        422: {"description": "Not a video we accept, invalid options, or a reused key"},
        409: {"description": "A request with this Idempotency-Key is in progress"},
    },
)
async def create_upload(
    request: Request,
    token: TokenDep,
    settings: SettingsDep,
    clients: ClientsDep,
    urls: UrlsDep,
    options: Annotated[str | None, Query(description="UploadOptions as JSON")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=idem.MAX_KEY_LENGTH)] = None,
) -> JSONResponse:
    """Upload a video and create its TranscodeJob; returns where to follow and play it."""
    try:
        return await _create(request, token, settings, clients, urls, options, idempotency_key)
    except ApiError as exc:
        clients.metrics.rejections.labels(getattr(exc, "reason", None) or exc.code).inc()
        raise


async def _create(
    request: Request,
    token: str,
    settings: UploaderSettings,
    clients: Clients,
    urls: Urls,
    options_text: str | None,
    key: str | None,
) -> JSONResponse:
    started = time.monotonic()
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > settings.max_upload_bytes:
        raise too_large(settings.max_upload_bytes)
    boundary = boundary_of(request.headers.get("content-type", ""))
    reader = MultipartReader(boundary, settings.max_form_field_bytes) if boundary else None
    query_options = parse_options(options_text)  # fail fast, before reading the body

    hashed = idem.key_hash(token, key) if key is not None else None
    inflight: set[str] = request.app.state.inflight_keys
    existing: dict[str, Any] | None = None
    if hashed is not None:
        if hashed in inflight:
            raise IdempotencyConflict("a request with this Idempotency-Key is still in progress")
        inflight.add(hashed)
    try:
        if hashed is not None:
            upload_id = idem.upload_id_for_key(hashed)
            existing = await _get(clients, upload_id)
        else:
            upload_id = idem.new_upload_id()
        receiver = _Receiver(clients, settings, upload_id, existing is None, hashed is not None)
        try:
            await _receive(request, receiver, reader)
            opts = query_options
            if reader is not None and "options" in reader.fields:
                opts = parse_options(reader.fields["options"])
            answer = await _complete(receiver, settings, clients, urls, opts, hashed, existing)
        except ClientDisconnect:
            await receiver.abort()
            raise BadRequest("the client disconnected before the upload ended") from None
        except BaseException:
            await receiver.abort()
            raise
        clients.metrics.upload_duration.observe(time.monotonic() - started)
        return answer
    finally:
        if hashed is not None:
            inflight.discard(hashed)


async def _get(clients: Clients, name: str) -> dict[str, Any] | None:
    try:
        return await to_thread.run_sync(clients.store.get, name)
    except KubeError as exc:
        raise UpstreamFailed(str(exc)) from None


async def _complete(
    receiver: _Receiver,
    settings: UploaderSettings,
    clients: Clients,
    urls: Urls,
    opts: UploadOptions,
    hashed: str | None,
    existing: dict[str, Any] | None,
) -> JSONResponse:
    request_fp: str | None = None
    if hashed is not None:
        request_fp = idem.fingerprint(receiver.ingest.digest(), opts.model_dump(mode="json"))
    if existing is not None:
        assert hashed is not None and request_fp is not None
        idem.check_replay(existing["metadata"].get("annotations"), hashed, request_fp)
        clients.metrics.uploads.labels("replayed").inc()
        return _created(existing, urls, replayed=True)

    sink = receiver.sink
    assert sink is not None and receiver.ingest.sniffed is not None
    await to_thread.run_sync(_probe, sink, receiver.ingest.sniffed.container)
    upload_id = receiver.upload_id
    try:
        location = await to_thread.run_sync(sink.commit)
    except AlreadyCommitted:
        return await _raced(clients, urls, upload_id, hashed, request_fp)
    except StorageError as exc:
        raise StorageFailed(str(exc)) from None

    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if hashed is not None and request_fp is not None:
        labels[idem.LABEL_KEY] = idem.label_value(hashed)
        annotations[idem.ANNOTATION_KEY] = hashed
        annotations[idem.ANNOTATION_FINGERPRINT] = request_fp
    output = f"{settings.output_dir.strip('/')}/{upload_id}"
    try:
        manifest = build_job(upload_id, location, output, opts, labels, annotations)
        created = await to_thread.run_sync(clients.store.create, manifest)
    except (ValidationError, JobRejected, JobExists, KubeError) as exc:
        await to_thread.run_sync(clients.storage.delete, location)
        if isinstance(exc, JobExists):
            return await _raced(clients, urls, upload_id, hashed, request_fp)
        if isinstance(exc, KubeError):
            raise UpstreamFailed(str(exc)) from None
        raise InvalidOptions(str(exc)) from None
    clients.metrics.uploads.labels("created").inc()
    return _created(created, urls, replayed=False)


async def _raced(
    clients: Clients, urls: Urls, upload_id: str, hashed: str | None, request_fp: str | None
) -> JSONResponse:
    """Another replica committed this keyed upload first: a replay if it is the same request."""
    found = await _get(clients, upload_id)
    if found is None or hashed is None or request_fp is None:
        raise IdempotencyConflict("a request with this Idempotency-Key is still in progress")
    idem.check_replay(found["metadata"].get("annotations"), hashed, request_fp)
    clients.metrics.uploads.labels("replayed").inc()
    return _created(found, urls, replayed=True)
