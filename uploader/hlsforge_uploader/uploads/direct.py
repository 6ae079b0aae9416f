"""A direct upload from its creation to its TranscodeJob: the rules and their order.

``start`` records the options and hands out a presigned PUT (``storage.bucket_direct``). ``finish``
(``POST /v1/uploads/{id}/complete``) treats the staged file exactly as a streamed upload:

1. a job of this id made by a direct upload already exists -> that job (a repeated call);
2. no pending record -> 404; nothing PUT yet -> 409 ``upload_incomplete``;
3. the size against the ticket's declared size -> 422 ``size_mismatch`` (the presigned PUT
   signs ``Content-Length`` too, so a store that checks signatures refuses another size at
   the PUT already), and ``HLSFORGE_MAX_UPLOAD_BYTES`` -> 413; the first KiB (a ranged GET)
   through the engine's ``sniff`` -> 422; ffprobe through a presigned URL -> 422. Each refusal
   deletes the staged file and the record;
4. a server-side copy to ``uploads/<id>.<ext>`` that never replaces an object and only copies
   the bytes just checked (their ETag), then the TranscodeJob, created as for a streamed
   upload (its failure deletes the copy, and the staged file stays for a retry);
5. the staged file and the record are deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from pydantic import ValidationError

from hlsforge_storage.s3 import ObjectStoreError
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import (
    IdempotencyConflict,
    InvalidMedia,
    InvalidOptions,
    NotFound,
    NotSupported,
    SizeMismatch,
    StorageUnavailable,
    TooLarge,
    UploadIncomplete,
)
from hlsforge_uploader.k8s import JobExists
from hlsforge_uploader.models import UploadOptions
from hlsforge_uploader.storage.bucket_copy import SourceChanged
from hlsforge_uploader.storage.bucket_direct import DirectUploads, Ticket
from hlsforge_uploader.storage.interface import AlreadyCommitted
from hlsforge_uploader.uploads.acceptance import create_job, get_job, probe, reserve, unreserve
from hlsforge_uploader.uploads.body import EXTENSIONS, sniff_head, too_large
from hlsforge_uploader.uploads.direct_record import DIRECT_LABEL
from hlsforge_uploader.uploads.recovery import JobSpec, take_over

Obj = dict[str, Any]


def direct_of(clients: Clients) -> DirectUploads:
    if clients.direct is None:
        raise NotSupported(
            "direct uploads need S3 storage (HLSFORGE_STORAGE=s3); "
            "with volume storage, upload the file with POST /v1/uploads"
        )
    return clients.direct


def _store_failed(exc: ObjectStoreError) -> StorageUnavailable:
    return StorageUnavailable(f"the object store failed: {exc.code}")


async def start(
    clients: Clients, upload_id: str, opts: UploadOptions, size: int, limit: int
) -> Ticket:
    """Record the upload and presign a PUT of exactly ``size`` bytes (413 above ``limit``)."""
    direct = direct_of(clients)
    if size > limit:
        raise too_large(limit)
    wire = opts.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        return await to_thread.run_sync(direct.create, upload_id, wire, datetime.now(UTC), size)
    except ObjectStoreError as exc:
        raise _store_failed(exc) from None


def _made_here(job: Obj) -> bool:
    labels = (job.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(DIRECT_LABEL) == "direct")


async def _existing(clients: Clients, upload_id: str) -> Obj | None:
    found = await get_job(clients, upload_id)
    if found is not None and not _made_here(found):
        raise NotFound(f"no direct upload {upload_id!r}")
    return found


async def finish(
    clients: Clients,
    upload_id: str,
    limit: int,
    *,
    owner: str | None = None,
    takeover_s: float = 120.0,
) -> tuple[Obj, bool]:
    """Check the staged file and create its job (labelled with the ``owner`` token's name);
    returns it and whether it already existed."""
    direct = direct_of(clients)
    found = await _existing(clients, upload_id)
    if found is not None:
        return found, True
    try:
        pending = await to_thread.run_sync(direct.pending, upload_id)
        if pending is None:
            raise NotFound(f"no pending direct upload {upload_id!r} (unknown, or cleaned up)")
        staged = await to_thread.run_sync(direct.staged, upload_id)
    except ObjectStoreError as exc:
        raise _store_failed(exc) from None
    if staged is None:
        until = pending.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        raise UploadIncomplete(
            f"nothing was uploaded for {upload_id} yet: PUT the file to its URL "
            f"(valid until {until}) first, then complete"
        )
    try:
        opts = UploadOptions.model_validate(pending.options)
        if pending.size is not None and staged.size != pending.size:
            raise SizeMismatch(
                f"the ticket declared {pending.size} bytes and {staged.size} were uploaded; "
                "the file was deleted"
            )
        if staged.size > limit:
            raise too_large(limit)
        head = await to_thread.run_sync(direct.read_head, upload_id)
        container = sniff_head(head).container
        source = await to_thread.run_sync(direct.probe_input, upload_id)
        await to_thread.run_sync(probe, clients.prober, source, container)
    except (TooLarge, InvalidMedia, SizeMismatch, ValidationError) as exc:
        await to_thread.run_sync(direct.discard, upload_id)
        if isinstance(exc, ValidationError):
            raise InvalidOptions(str(exc)) from None
        raise
    except ObjectStoreError as exc:
        raise _store_failed(exc) from None

    extension = EXTENSIONS[container]
    spec = JobSpec(opts, {DIRECT_LABEL: "direct"}, {}, owner, staged.size)
    # Reserved before the copy exists, as a streamed upload is (``recovery``).
    source_key = str(direct.keys(upload_id).source(extension))
    made = await reserve(clients, source_key, upload_id)
    try:
        location = await to_thread.run_sync(direct.promote, upload_id, extension, staged)
    except AlreadyCommitted:
        return await _raced(clients, upload_id, source_key, spec, takeover_s)
    except BaseException as exc:
        if made:
            await unreserve(clients, source_key, upload_id)
        if isinstance(exc, SourceChanged):
            raise IdempotencyConflict(
                f"the file of {upload_id} changed while it was checked; complete again"
            ) from None
        if isinstance(exc, ObjectStoreError):
            raise _store_failed(exc) from None
        raise
    try:
        created = await create_job(
            clients,
            upload_id,
            location,
            opts,
            {DIRECT_LABEL: "direct"},
            owner=owner,
            source_bytes=staged.size,
        )
    except JobExists:
        return await _raced(clients, upload_id, location, spec, takeover_s)
    await to_thread.run_sync(direct.discard, upload_id)
    return created, False


async def _raced(
    clients: Clients, upload_id: str, location: str, spec: JobSpec, takeover_s: float
) -> tuple[Obj, bool]:
    """The source key is taken: another replica completed this upload at the same moment, or
    a completion was cut off before its job (``recovery``; the copy holds exactly the staged
    bytes just checked: the staged file is write-once and the copy was conditional on its
    ETag)."""
    found = await _existing(clients, upload_id)
    if found is None:
        try:
            created = await take_over(clients, takeover_s, upload_id, location, spec, None)
        except JobExists:
            found = await _existing(clients, upload_id)
        else:
            await to_thread.run_sync(direct_of(clients).discard, upload_id)
            return created, False
    if found is None:
        raise IdempotencyConflict(f"{upload_id} is being completed by another request")
    clients.metrics.uploads.labels("replayed").inc()
    return found, True
