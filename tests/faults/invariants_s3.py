"""What must hold after every S3 fault (rows 7.x): the S3 twin of ``invariants.check_settled``.

Read through the server directly, never through the fault proxy: the job ends in the right
phase with its attempts counted right; exactly one ``commit.json`` naming exactly one version
folder, which verifies and decodes, and no other version folder; no multipart upload left
open in the bucket; the source object deleted exactly once and only after the commit (kept
when the job fails); no second Job and no pod left running.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3_commit import COMMIT, read_commit, verify_committed
from tests.faults.invariants import decodes, nothing_runs, settled_status, source_checked
from tests.integration.operator_env import Api
from tests.s3server import S3Access


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
    status, seen = settled_status(api, name, phase, attempts)

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

    present = objects.size(source) is not None
    deleted = phase == "Succeeded"
    seen.append(
        source_checked(api, name, status, deleted=deleted, present=present, source=str(source))
    )
    nothing_runs(api, name)
    return seen
