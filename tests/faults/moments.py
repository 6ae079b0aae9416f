"""Waiting for the moment a fault strikes: a job's pod running, its progress past a mark.

Shared by every row; each row module adds the moments only it needs."""

from __future__ import annotations

from typing import Any

from tests.integration.harness import wait_for
from tests.integration.operator_env import Env

LADDER = [
    {"name": "360p", "height": 360, "videoBitrateKbps": 800},
    {"name": "180p", "height": 180, "videoBitrateKbps": 300},
]
"""Two renditions: enough for a multi-variant output, cheap on a 2-CPU machine."""


def running_pod(env: Env, tj: str, timeout: float = 180) -> Any:
    def find() -> Any:
        pods = env.api.pods(f"hlsforge.io/transcodejob={tj}")
        return next((p for p in pods if p.status.phase == "Running"), None)

    return wait_for(f"a running pod of {tj}", find, timeout=timeout)


def progress_above(env: Env, tj: str, percent: float, timeout: float = 240) -> float:
    """Wait until ``status.progress`` passes ``percent``; return the progress seen."""

    def past() -> float | None:
        progress = float(env.api.status(tj).get("progress") or 0)
        return progress if progress > percent else None

    return wait_for(f"{tj} progress above {percent}", past, timeout=timeout, every=0.1)


def job_of(env: Env, tj: str, timeout: float = 120) -> Any:
    """The batch/v1 Job of TranscodeJob ``tj`` once it exists."""

    def find() -> Any:
        jobs = env.api.batch.list_namespaced_job(
            env.namespace, label_selector=f"hlsforge.io/transcodejob={tj}"
        ).items
        return jobs[0] if jobs else None

    return wait_for(f"{tj}'s Job", find, timeout=timeout)
