"""What must hold after every S3 fault (rows 7.x): the S3 twin of ``invariants.check_settled``.

Read through the server directly, never through the fault proxy: the job ends in the right
phase with its attempts counted right; exactly one ``commit.json`` naming exactly one version
folder, which verifies and decodes, and no other version folder; no multipart upload left
open in the bucket; the source object deleted exactly once and only after the commit (kept
when the job fails); no second Job and no pod left running.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3_commit import COMMIT, read_commit, verify_committed
from tests.faults.invariants import decodes
from tests.integration.operator_env import Api
from tests.s3server import S3Access


def s3_event_count(api: Api, name: str, reason: str) -> int:
    listed = api.core.list_namespaced_event(
        api.namespace, field_selector=f"involvedObject.name={name}"
    )
    return sum(int(e.count or 1) for e in listed.items if e.reason == reason)


def _condition_time(status: dict[str, Any], kind: str) -> datetime | None:
    for c in status.get("conditions") or []:
        if c["type"] == kind and c["status"] == "True":
            return datetime.fromisoformat(c["lastTransitionTime"].replace("Z", "+00:00"))
    return None


def decodes_from_s3(s3: S3Access, root: S3Uri, manifest: dict[str, Any]) -> None:
    """Download the committed version and decode every variant with the real ffmpeg."""
    objects = s3.objects()
    with tempfile.TemporaryDirectory(prefix="hlsforge-s3-decode-") as folder:
        local = Path(folder)
        for rel in [*manifest["files"], "manifest.json"]:
            target = local / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(objects.read(root.child(rel)))
        decodes(local / "master.m3u8")


def check_settled_s3(
    api: Api,
    s3: S3Access,
    name: str,
    *,
    phase: str,
    attempts: int | range,
    source: S3Uri,
    output: S3Uri,
) -> list[str]:
    """Assert every invariant of a settled S3 job; return what was seen, for the table."""
    status = api.status(name)
    seen = [phase, f"attempts {status.get('attempts')}"]
    assert status.get("phase") == phase, status
    wanted = attempts if isinstance(attempts, range) else range(attempts, attempts + 1)
    assert status.get("attempts") in wanted, f"attempts {status.get('attempts')} not in {wanted}"

    objects = s3.objects()
    keys = sorted(o.key[len(output.prefix) :] for o in objects.listing(output))
    if phase == "Succeeded":
        record = read_commit(objects, output)
        assert record is not None, f"{output} holds no {COMMIT}"
        found = verify_committed(objects, output)
        assert found is not None
        root, manifest = found
        others = {k.split("/", 1)[0] for k in keys if "/" in k} - {record.version}
        assert others == set(), f"other version folders left: {sorted(others)}"
        assert [k for k in keys if "/" not in k] == [COMMIT], keys
        decodes_from_s3(s3, root, manifest)
        seen.append("one commit, one version, verifies and decodes")
    else:
        assert keys == [], f"a failed job left {keys[:5]}"
    uploads = s3.open_multipart_uploads(output.bucket)
    assert uploads == [], f"multipart uploads left open: {uploads}"
    seen.append("no multipart upload left")

    deletions = s3_event_count(api, name, "SourceDeleted")
    if phase == "Succeeded":
        assert objects.size(source) is None, f"{source} was not deleted"
        assert status.get("sourceDeleted") is True, status
        assert deletions == 1, f"SourceDeleted {deletions} times"
        succeeded = _condition_time(status, "Succeeded")
        deleted = _condition_time(status, "SourceDeleted")
        assert succeeded and deleted and deleted >= succeeded, status.get("conditions")
        seen.append("source deleted once, after the commit")
    else:
        assert objects.size(source) is not None, f"{source} was lost"
        assert deletions == 0 and not status.get("sourceDeleted"), status
        seen.append("source kept")

    jobs: list[Any] = api.batch.list_namespaced_job(
        api.namespace, label_selector=f"hlsforge.io/transcodejob={name}"
    ).items
    assert len(jobs) <= 1, [j.metadata.name for j in jobs]
    for job in jobs:
        done = {c.type for c in job.status.conditions or [] if c.status == "True"}
        assert done & {"Complete", "Failed"}, f"{job.metadata.name} still runs"
    running = [
        p.metadata.name
        for p in api.pods(f"hlsforge.io/transcodejob={name}")
        if p.status.phase in ("Pending", "Running")
    ]
    assert running == [], running
    return seen
