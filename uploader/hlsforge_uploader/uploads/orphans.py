"""The orphan sweep: uploads stored and reserved whose TranscodeJob was never created.

A process killed after an upload took its final name (``uploads/<id>.<ext>``, reserved for the
job ``<id>``) and before the job existed leaves a file no job names. A retry with the same
Idempotency-Key finishes it (``recovery``); nothing else ever will. Every
``HLSFORGE_ORPHAN_SWEEP_INTERVAL_SECONDS`` each replica deletes such a file when all hold:

- it lies directly in the uploads area and has an upload's name (``idempotency.is_upload_id``):
  never a direct upload's staging folder, never anything else on the volume or in the bucket;
- its claim record is still this namespace's *reservation* for ``<id>`` (never adopted by a
  job's UID), made more than ``HLSFORGE_ORPHAN_GRACE_SECONDS`` ago: the sweep deletes only
  what an upload reserved, and a request that reserved that long ago is gone;
- no TranscodeJob ``<id>`` exists (asked of the API server), and no job in the watch cache
  names the file as its source.

Then the file goes, then its reservation. A volume's partial files (``.<name>.part-*``) last
written more than the grace ago go too: a body still arriving writes at least once per
``HLSFORGE_BODY_IDLE_TIMEOUT_SECONDS`` window (slower ones are cut off), far less than the grace.
Two replicas sweeping at once only repeat idempotent deletes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from anyio import to_thread

from hlsforge_api.errors import StorageError
from hlsforge_storage.claim_spaces import ClaimError
from hlsforge_storage.claims import RESERVED, ClaimRecord, Owner
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.k8s import KubeError
from hlsforge_uploader.uploads.idempotency import is_upload_id
from hlsforge_uploader.uploads.recovery import reserved_for

log = logging.getLogger("hlsforge.uploader.orphans")

MAX_PER_SWEEP = 10_000
"""Sources looked at per sweep (the rest wait for the next one)."""


@dataclass(frozen=True)
class Swept:
    sources: list[str]
    partials: int


def upload_name(location: str) -> str:
    """``uploads/up-x.mp4`` or ``s3://b/uploads/up-x.mp4`` -> ``up-x``."""
    return location.rsplit("/", 1)[-1].partition(".")[0]


def is_orphan(
    record: ClaimRecord | None, namespace: str, name: str, now: datetime, grace_s: float
) -> bool:
    """The claim says: reserved for ``namespace/name``, never adopted, older than the grace."""
    if record is None or not reserved_for(record, namespace, name):
        return False
    return (now - record.created_at).total_seconds() > grace_s


def sweep_once(clients: Clients, grace_s: float, now: datetime, named: set[str]) -> Swept:
    """One sweep (blocking). ``named``: the sources of the jobs in the watch cache. Raises
    ``KubeError`` or ``StorageError`` (the sweep stops; the next one starts over)."""
    ownership = clients.ownership
    namespace = clients.store.namespace
    swept: list[str] = []
    if ownership is not None:
        for location in clients.storage.source_locations(MAX_PER_SWEEP):
            name = upload_name(location)
            if not is_upload_id(name) or location in named:
                continue
            try:
                record = ownership.record(location)
            except ClaimError as exc:
                log.warning("orphan sweep: cannot read the claim of %s: %s", location, exc)
                continue
            if not is_orphan(record, namespace, name, now, grace_s):
                continue
            if clients.store.get(name) is not None:
                continue
            clients.storage.delete(location)
            try:
                ownership.release(location, Owner(namespace, name, RESERVED))
            except ClaimError as exc:
                log.warning("orphan sweep: cannot drop the reservation of %s: %s", location, exc)
            swept.append(location)
    partials = clients.storage.remove_stale_partials(now.timestamp() - grace_s)
    return Swept(swept, partials)


async def sweep(clients: Clients, grace_s: float) -> Swept | None:
    """One sweep, unless the watch cache is not filled yet (then None)."""
    if not clients.broadcaster.synced.is_set():
        return None
    named = {
        str(source)
        for job in clients.broadcaster.history.jobs()
        if (source := (job.get("spec") or {}).get("source"))
    }
    now = datetime.now(UTC)
    return await to_thread.run_sync(sweep_once, clients, grace_s, now, named)


async def run(clients: Clients, grace_s: float, interval_s: float) -> None:
    """Sweep every ``interval_s`` (jittered, so replicas spread out) until cancelled."""
    while True:
        await asyncio.sleep(interval_s * random.uniform(0.75, 1.25))  # noqa: S311 - jitter
        try:
            swept = await sweep(clients, grace_s)
        except (KubeError, StorageError) as exc:
            log.warning("orphan sweep failed: %s", exc)
            continue
        if swept is not None and (swept.sources or swept.partials):
            log.warning(
                "orphan sweep: deleted %d upload(s) no job was created for (%s) and %d partial "
                "file(s)",
                len(swept.sources),
                ", ".join(swept.sources[:10]),
                swept.partials,
            )
