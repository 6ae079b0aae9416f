"""What must hold after every fault, checked the same way in every row (volume mode).

At-least-once work with exactly-once results: the job ends in the right phase with its
attempts counted right; exactly one committed output that verifies and decodes; the source
deleted exactly once and only after the commit (kept when the job fails); no work folder, no
second Job and no pod left running.
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from hlsforge_output.verify import verify_dir
from tests.integration.operator_env import Env


def event_count(env: Env, name: str, reason: str) -> int:
    """How many times the TranscodeJob ``name`` got an event with ``reason`` (events that
    repeat are aggregated into one object with a count)."""
    listed = env.api.core.list_namespaced_event(
        env.namespace, field_selector=f"involvedObject.name={name}"
    )
    return sum(int(e.count or 1) for e in listed.items if e.reason == reason)


def _condition_time(status: dict[str, Any], kind: str) -> datetime | None:
    for c in status.get("conditions") or []:
        if c["type"] == kind and c["status"] == "True":
            return datetime.fromisoformat(c["lastTransitionTime"].replace("Z", "+00:00"))
    return None


def decodes(master: Path) -> None:
    """Every variant of the HLS output decodes end to end with the real ffmpeg."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(master), "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), f"{master}: {done.stderr[-2000:]}"


def work_folders(env: Env, output: str) -> list[Path]:
    """Attempt folders (``DEST.tmp-*``) next to the output: none may outlive the job."""
    dest = env.media.root / output
    return sorted(dest.parent.glob(f"{dest.name}.tmp-*"))


def job_work_folder(env: Env, name: str, work_dir: str = ".hlsforge/work") -> Path | None:
    """The job's own work folder on the volume (``<work_dir>/<uid>``, where its pods write,
    killed attempts' ``out.tmp-*`` included): none may outlive the settled job."""
    found = env.api.tj(name)
    uid = (found or {}).get("metadata", {}).get("uid")
    return env.media.root / work_dir / uid if uid else None


def check_settled(
    env: Env,
    name: str,
    *,
    phase: str,
    attempts: int | range,
    source: str,
    output: str,
    retained: bool = False,
) -> list[str]:
    """Assert every invariant of a settled job; return what was seen, for the table.

    ``retained``: the spec asked to keep the source (``sourcePolicy: Retain``)."""
    status = env.api.status(name)
    seen = [f"{phase}", f"attempts {status.get('attempts')}"]
    assert status.get("phase") == phase, status
    wanted = attempts if isinstance(attempts, range) else range(attempts, attempts + 1)
    assert status.get("attempts") in wanted, f"attempts {status.get('attempts')} not in {wanted}"

    dest = env.media.root / output
    if phase == "Succeeded":
        verify_dir(dest)
        decodes(dest / "master.m3u8")
        seen.append("one output, verifies and decodes")
    else:
        assert not dest.exists() or not any(dest.iterdir()), f"{dest} holds a failed job's files"
    assert work_folders(env, output) == [], work_folders(env, output)
    leftover = job_work_folder(env, name)
    assert leftover is None or not leftover.exists(), f"{leftover} outlived the job"

    source_path = env.media.root / source
    deletions = event_count(env, name, "SourceDeleted")
    if phase == "Succeeded" and not retained:
        assert not source_path.exists(), f"{source} was not deleted"
        assert status.get("sourceDeleted") is True, status
        assert deletions == 1, f"SourceDeleted {deletions} times"
        succeeded, deleted = (
            _condition_time(status, "Succeeded"),
            _condition_time(status, "SourceDeleted"),
        )
        assert succeeded and deleted and deleted >= succeeded, status.get("conditions")
        seen.append("source deleted once, after the commit")
    else:
        assert source_path.exists(), f"{source} was lost"
        assert deletions == 0 and not status.get("sourceDeleted"), status
        seen.append("source kept")

    jobs: list[Any] = env.api.batch.list_namespaced_job(
        env.namespace, label_selector=f"hlsforge.io/transcodejob={name}"
    ).items
    assert len(jobs) <= 1, [j.metadata.name for j in jobs]
    for job in jobs:
        done = {c.type for c in job.status.conditions or [] if c.status == "True"}
        assert done & {"Complete", "Failed"}, f"{job.metadata.name} still runs"
    running = [
        p.metadata.name
        for p in env.api.pods(f"hlsforge.io/transcodejob={name}")
        if p.status.phase in ("Pending", "Running")
    ]
    assert running == [], running
    return seen
