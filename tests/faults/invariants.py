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
from tests.integration.operator_env import Api, Env


def event_count(api: Api, name: str, reason: str) -> int:
    """How many times the TranscodeJob ``name`` got an event with ``reason`` (events that
    repeat are aggregated into one object with a count)."""
    listed = api.core.list_namespaced_event(
        api.namespace, field_selector=f"involvedObject.name={name}"
    )
    return sum(int(e.count or 1) for e in listed.items if e.reason == reason)


def _condition_time(status: dict[str, Any], kind: str) -> datetime | None:
    for c in status.get("conditions") or []:
        if c["type"] == kind and c["status"] == "True":
            return datetime.fromisoformat(c["lastTransitionTime"].replace("Z", "+00:00"))
    return None


def settled_status(
    api: Api, name: str, phase: str, attempts: int | range
) -> tuple[dict[str, Any], list[str]]:
    """The job's status, asserted to be in ``phase`` with ``attempts``; what was seen."""
    status = api.status(name)
    assert status.get("phase") == phase, status
    wanted = attempts if isinstance(attempts, range) else range(attempts, attempts + 1)
    assert status.get("attempts") in wanted, f"attempts {status.get('attempts')} not in {wanted}"
    return status, [phase, f"attempts {status.get('attempts')}"]


def source_checked(
    api: Api, name: str, status: dict[str, Any], *, deleted: bool, present: bool, source: str
) -> str:
    """The source deleted exactly once and only after the commit (``deleted``), or kept: its
    ``present`` existence, the ``SourceDeleted`` events and conditions agree."""
    deletions = event_count(api, name, "SourceDeleted")
    if deleted:
        assert not present, f"{source} was not deleted"
        assert status.get("sourceDeleted") is True, status
        assert deletions == 1, f"SourceDeleted {deletions} times"
        succeeded = _condition_time(status, "Succeeded")
        gone = _condition_time(status, "SourceDeleted")
        assert succeeded and gone and gone >= succeeded, status.get("conditions")
        return "source deleted once, after the commit"
    assert present, f"{source} was lost"
    assert deletions == 0 and not status.get("sourceDeleted"), status
    return "source kept"


def nothing_runs(api: Api, name: str) -> None:
    """At most one Job of the job, finished, and no pod of it pending or running."""
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
    status, seen = settled_status(env.api, name, phase, attempts)

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

    deleted = phase == "Succeeded" and not retained
    present = (env.media.root / source).exists()
    seen.append(
        source_checked(env.api, name, status, deleted=deleted, present=present, source=source)
    )
    nothing_runs(env.api, name)
    return seen
