"""An upload whose file was stored but whose TranscodeJob was never created (the process that
took it died in between): how a retry tells it from a request still in flight, and finishes it.

Every upload is reserved for its job's name (``claims.Ownership.reserve_source``) *before* its
file takes its final name, so a stored file without a job always has a reservation, and the
reservation's ``created_at`` says when the request reached that point. Its owner is expected to
create the job within seconds (a probe and one API call); a reservation older than
``HLSFORGE_IDEMPOTENCY_TAKEOVER_SECONDS`` with still no job means that owner is gone:

- younger, or no reservation at all (not an upload's file) -> 409 ``idempotency_conflict``
  (a concurrent duplicate, or a retry too early);
- older, and the stored bytes are the retry's bytes (SHA-256) -> the retry probes the stored
  file and creates the job itself (201); different bytes -> 422 ``idempotency_key_reused``;
- a racing replica that takes over too meets it on the job's name (``JobExists``): one job.

What nobody retries is deleted by the orphan sweep (``uploads.orphans``) after a longer grace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread

from hlsforge_api.errors import StorageError
from hlsforge_storage.claim_spaces import ClaimError
from hlsforge_storage.claims import RESERVED, ClaimRecord
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import IdempotencyConflict, IdempotencyKeyReused, StorageFailed
from hlsforge_uploader.models import UploadOptions
from hlsforge_uploader.uploads.acceptance import create_job, probe

Obj = dict[str, Any]
log = logging.getLogger("hlsforge.uploader.recovery")


@dataclass(frozen=True)
class JobSpec:
    """The job the retry would have created: ``acceptance.create_job``'s arguments."""

    opts: UploadOptions
    labels: dict[str, str]
    annotations: dict[str, str]
    owner: str | None = None
    source_bytes: int | None = None


@dataclass(frozen=True)
class Same:
    """What the retry must match before it adopts the stored file: its bytes' SHA-256, and
    the container it sniffed (to probe the stored file with the same rules)."""

    sha256: str
    container: str


def reserved_for(record: ClaimRecord, namespace: str, name: str) -> bool:
    """The record is a reservation (no UID yet) for the job ``namespace/name``."""
    return record.uid == RESERVED and (record.namespace, record.name) == (namespace, name)


def cut_off(record: ClaimRecord | None, now: datetime, takeover_s: float) -> bool:
    """Whether the request that stored the file is taken as gone. A file with no reservation
    at all was not stored by an upload of this version (which reserves first): never adopted."""
    if record is None:
        return False
    return (now - record.created_at).total_seconds() >= takeover_s


async def take_over(
    clients: Clients,
    takeover_s: float,
    upload_id: str,
    location: str,
    spec: JobSpec,
    same: Same | None,
) -> Obj:
    """Create the job for the stored file ``location`` if its request is cut off (see the
    module); ``same`` None: the file is known to be the checked one (a direct upload's copy).
    Raises ``JobExists`` when another request created the job meanwhile."""
    namespace = clients.store.namespace
    record: ClaimRecord | None = None
    if clients.ownership is not None:
        try:
            record = await to_thread.run_sync(clients.ownership.record, location)
        except ClaimError as exc:
            raise StorageFailed(f"cannot read the reservation of the upload: {exc}") from None
    if record is not None and not reserved_for(record, namespace, upload_id):
        raise IdempotencyConflict(
            f"the stored upload is claimed by {record.owner}, not reserved for {upload_id}"
        )
    if not cut_off(record, datetime.now(UTC), takeover_s):
        raise IdempotencyConflict("a request with this Idempotency-Key is still in progress")
    if same is not None:
        try:
            stored = await to_thread.run_sync(clients.storage.source_digest, location)
            if stored is None:
                raise IdempotencyConflict("the stored upload went away meanwhile; send it again")
            if stored != same.sha256:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was already used for a different file"
                )
            source = clients.storage.committed_input(location)
        except StorageError as exc:
            raise StorageFailed(exc.message) from None
        await to_thread.run_sync(lambda: probe(clients.prober, source, same.container))
    log.warning("taking over %s: stored, reserved, and no job after %ss", location, takeover_s)
    created = await create_job(
        clients,
        upload_id,
        location,
        spec.opts,
        spec.labels,
        spec.annotations,
        owner=spec.owner,
        source_bytes=spec.source_bytes,
    )
    clients.metrics.uploads.labels("recovered").inc()
    return created
