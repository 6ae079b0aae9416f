"""Rows 8.x: the uploader SIGKILLed mid-upload, and between storing the file and creating the
job; the client retries with the same Idempotency-Key on the restarted uploader.

What must hold: exactly one TranscodeJob, run by a real operator and transcoder pod to
Succeeded with one verified output that decodes, the source deleted once after the commit,
and no orphan left: no upload file or partial file, no reservation (claim record).

The uploader processes, their settings and the crash between "stored" and "job created" (the
API connection through a relay the test freezes) come from the uploader's own crash tests
(``tests/integration/test_uploader_crash_recovery.py``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.invariants import check_settled
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster
from tests.integration.harness import make_clip, wait_for
from tests.integration.operator_env import Env, operator_env_in
from tests.integration.test_uploader_crash_recovery import (
    _uploader,
    crash_after_storing,
    retry_makes_the_one_job,
)
from tests.integration.test_uploader_harness import PausedUpload
from tests.integration.test_uploader_volume_harness import AUTH

pytestmark = pytest.mark.cluster

MUST_HOLD = (
    "one job, Succeeded, attempts 1, one verified output, source deleted once after it, "
    "no orphan upload file or reservation"
)
SWEEP = {
    # The orphan sweep of the restarted uploader finds a killed body's partial file soon:
    # the grace must outlast the longest quiet of a live body (window + buffer / min rate).
    "HLSFORGE_BODY_IDLE_TIMEOUT_SECONDS": "5",
    "HLSFORGE_WRITE_BUFFER_BYTES": str(64 * 1024),
    "HLSFORGE_ORPHAN_GRACE_SECONDS": "20",
    "HLSFORGE_ORPHAN_SWEEP_INTERVAL_SECONDS": "1",
}


@pytest.fixture
def env(platform: KubeCluster) -> Iterator[Env]:
    yield from operator_env_in(platform, "f-upl")


def _clip(tmp_path: Path) -> bytes:
    return make_clip(tmp_path / "clip.mp4", 4, size="640x360", noise=True).read_bytes()


def _leftovers(env: Env) -> list[str]:
    """Upload files (partial ones included) and reservations still on the volume."""
    uploads = env.media.root / "uploads"
    claims = env.media.root / ".hlsforge" / "claims" / "uploads"
    found = [f"upload {p.name}" for p in uploads.iterdir()] if uploads.is_dir() else []
    if claims.is_dir():
        found += [f"claim {p.name}" for p in claims.iterdir()]
    return found


def _settles(env: Env, row: FaultRow, upload_id: str) -> None:
    """The one job runs to Succeeded, its source deleted, and no orphan stays."""
    env.wait_phase(upload_id, {"Succeeded", "Failed"}, timeout=300)
    env.wait_source_deleted(upload_id)
    output = str((env.api.tj(upload_id) or {})["spec"]["output"])
    source = f"uploads/{upload_id}.mp4"
    seen = check_settled(env, upload_id, phase="Succeeded", attempts=1, source=source,
                         output=output)  # fmt: skip
    listed: Any = env.api.custom.list_namespaced_custom_object(
        "hlsforge.io", "v1alpha1", env.namespace, "transcodejobs"
    )
    assert [t["metadata"]["name"] for t in listed["items"]] == [upload_id]
    wait_for("no orphan upload file or reservation", lambda: _leftovers(env) == [], timeout=60)
    row.recovered()
    for what in ["one job", *seen, "no orphan file or reservation"]:
        row.saw(what)


def test_uploader_killed_mid_upload(
    env: Env, fault_row: Callable[..., FaultRow], tmp_path: Path
) -> None:
    row = fault_row("8.1", fault="uploader SIGKILL", when="mid-upload (half the body read)",
                    must_hold=MUST_HOLD)  # fmt: skip
    data = _clip(tmp_path)
    key = {"Idempotency-Key": f"mid-{time.time_ns()}"}
    doomed = _uploader(env.cluster, env.namespace, env.media.root, "doomed", **SWEEP).start()
    try:
        upload = PausedUpload(doomed.port, "/v1/uploads", {**AUTH, **key}, data).start()
        os.killpg(doomed.pid, signal.SIGKILL)
        row.strike()
        row.saw(f"killed after {len(data) // 2 // 1024} KiB of {len(data) // 1024} KiB")
        with contextlib.suppress(Exception):  # the connection died, however it shows
            upload.resume(timeout=30)
    finally:
        doomed.stop()
    again = _uploader(env.cluster, env.namespace, env.media.root, "restarted", **SWEEP).start()
    try:

        def retried() -> httpx.Response | None:
            answer = httpx.post(f"{again.base}/v1/uploads", content=data,
                                headers={**AUTH, **key}, timeout=60)  # fmt: skip
            assert answer.status_code in (201, 409), answer.text
            return answer if answer.status_code == 201 else None

        created = wait_for("the retry to be accepted", retried, timeout=90, every=1)
        row.saw(f"retry {created.status_code}")
        _settles(env, row, str(created.json()["id"]))
    finally:
        again.stop()


def test_uploader_killed_between_stored_and_job_created(
    env: Env, fault_row: Callable[..., FaultRow], tmp_path: Path
) -> None:
    when = "between storing the file and creating the job"
    row = fault_row("8.2", fault="uploader SIGKILL", when=when, must_hold=MUST_HOLD)
    data = _clip(tmp_path)
    key = {"Idempotency-Key": f"stored-{time.time_ns()}"}
    uploads = env.media.root / "uploads"

    def stored() -> bool:
        return any(p.is_file() for p in uploads.glob("up-k*.mp4"))

    killed = crash_after_storing(
        env.cluster, env.namespace, env.media.root, {}, key, data, stored, tmp_path
    )
    row.strike()
    row.saw("stored and reserved, no job")
    upload_id = retry_makes_the_one_job(
        env.cluster, env.namespace, env.media.root, {}, key, data, killed
    )
    row.saw("retry 409 while young, then 201, replay 201, other bytes 422")
    _settles(env, row, upload_id)
