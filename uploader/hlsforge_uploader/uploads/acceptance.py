"""How every upload ends, streamed or direct: the probe's verdict on the stored file, and the
TranscodeJob created for it (or the one that already exists).

``probe`` runs ffprobe through the prober with the engine's rules; ``create_job`` creates the
job and deletes the committed source if the job cannot be created, so no file is left that no
job names.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from anyio import to_thread
from pydantic import ValidationError

from hlsforge_api.errors import InvalidInput, StorageError, TranscodeError
from hlsforge_media.limits import DEFAULT_LIMITS
from hlsforge_media.media_input import MediaInput
from hlsforge_media.probe import validate
from hlsforge_storage.claim_spaces import ClaimError
from hlsforge_storage.claims import RESERVED, ClaimConflictError, Owner
from hlsforge_uploader.auth.stamp import stamp
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import InvalidMedia, InvalidOptions, StorageFailed, UpstreamFailed
from hlsforge_uploader.jobs.manifest import build_job
from hlsforge_uploader.k8s import JobExists, JobRejected, KubeError, KubeUnsure
from hlsforge_uploader.models import UploadOptions
from hlsforge_uploader.prober.client import Prober

Obj = dict[str, Any]
log = logging.getLogger("hlsforge.uploader.intake")


def probe(prober: Prober, source: Path | MediaInput, container: str) -> None:
    """ffprobe (sandboxed, by ``prober``) + the engine's rules (blocking: run it in a thread)."""
    try:
        validate(prober.probe(source), DEFAULT_LIMITS, container)
    except InvalidInput as exc:
        raise InvalidMedia(exc.reason, exc.message) from None
    except TranscodeError as exc:
        raise StorageFailed(f"cannot probe the upload: {exc.message}") from None


async def get_job(clients: Clients, name: str) -> dict[str, Any] | None:
    try:
        return await to_thread.run_sync(clients.store.get, name)
    except KubeError as exc:
        raise UpstreamFailed(str(exc)) from None


async def create_job(
    clients: Clients,
    upload_id: str,
    location: str,
    opts: UploadOptions,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    *,
    owner: str | None = None,
    source_bytes: int | None = None,
) -> Obj:
    """Create the TranscodeJob ``upload_id`` reading the committed source ``location``,
    labelled with the ``owner`` token's name and annotated with its ``source_bytes`` (what
    the token's visibility and hourly quota read).

    When the job is refused (its manifest invalid, a 4xx such as a missing namespace) the
    source is deleted (no job names it) and the failure raised as an ``ApiError``.
    ``JobExists`` is the caller's to resolve (a replay or a race): then the source is left
    alone, as it is the existing job's (two retries that both took over a cut-off upload,
    ``recovery``, meet here). A failure that leaves it unknown whether the job was stored
    (``KubeUnsure``: the connection broke, a 5xx) never deletes the source: if the job is
    there after all, this is a success; if not, the source stays reserved for a keyed retry
    to finish (``recovery``) or the orphan sweep to remove.
    """
    output = clients.storage.output_location(upload_id)
    await reserve(clients, location, upload_id)
    try:
        labels, annotations = stamp(labels, annotations, owner, source_bytes)
        manifest = build_job(upload_id, location, output, opts, labels, annotations)
        created = await to_thread.run_sync(clients.store.create, manifest)
    except JobExists:
        raise
    except KubeUnsure as exc:
        stored = await _stored_after_all(clients, upload_id, location)
        if stored is None:
            raise UpstreamFailed(
                f"{exc}; the upload is kept: retry with the same Idempotency-Key"
            ) from None
        log.warning("create %s failed (%s), but the job was stored: going on", upload_id, exc)
        created = stored
    except (ValidationError, JobRejected, KubeError) as exc:
        try:
            await to_thread.run_sync(clients.storage.delete, location)
        except StorageError as cleanup:
            log.warning("could not delete the source %s of a refused job: %s", location, cleanup)
        await unreserve(clients, location, upload_id)
        if isinstance(exc, KubeError):
            raise UpstreamFailed(str(exc)) from None
        raise InvalidOptions(str(exc)) from None
    clients.metrics.uploads.labels("created").inc()
    clients.quotas.created(created)
    return created


async def _stored_after_all(clients: Clients, name: str, location: str) -> Obj | None:
    """The job ``name`` reading ``location`` if a create that failed stored it anyway."""
    try:
        found = await to_thread.run_sync(clients.store.get, name)
    except KubeError as exc:
        log.warning("cannot tell whether %s was created: %s", name, exc)
        return None
    if found is None or (found.get("spec") or {}).get("source") != location:
        return None
    return found


async def reserve(clients: Clients, location: str, name: str) -> bool:
    """Reserve ``location`` for the job ``name`` before the file takes that name; True if this
    call made the reservation (so its failure path must drop it), False if it was there."""
    if clients.ownership is None:
        return False
    try:
        made: bool = await to_thread.run_sync(
            clients.ownership.reserve_source, location, clients.store.namespace, name
        )
    except (ClaimConflictError, ClaimError) as exc:
        raise StorageFailed(f"cannot reserve the upload for its TranscodeJob: {exc}") from None
    return made


async def unreserve(clients: Clients, location: str, name: str) -> None:
    if clients.ownership is None:
        return
    owner = Owner(clients.store.namespace, name, RESERVED)
    try:
        await to_thread.run_sync(clients.ownership.release, location, owner)
    except ClaimError as exc:
        log.warning("could not release the reservation of %s: %s", location, exc)
