"""What the operator knows about a TranscodeJob's children, reduced from raw API objects.

Pure: these functions take the dicts kopf's watches hand over and keep only what the
status reducer needs, so the reducer can be tested with plain values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hlsforge_api.exitcodes import ExitCode
from hlsforge_operator import names


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class JobState:
    name: str
    active: int = 0
    failed: int = 0
    succeeded: int = 0
    complete: bool = False
    failed_final: bool = False
    failure_reason: str | None = None
    failure_message: str | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.complete or self.failed_final


def job_state(body: dict[str, Any]) -> JobState:
    """Summarise a batch/v1 Job. Only the terminal ``Complete``/``Failed`` conditions count:
    since 1.31 ``SuccessCriteriaMet``/``FailureTarget`` come first, while pods still run."""
    status = body.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    complete = conditions.get("Complete", {}).get("status") == "True"
    failed = conditions.get("Failed", {})
    return JobState(
        name=body["metadata"]["name"],
        active=int(status.get("active") or 0),
        failed=int(status.get("failed") or 0),
        succeeded=int(status.get("succeeded") or 0),
        complete=complete,
        failed_final=failed.get("status") == "True",
        failure_reason=failed.get("reason"),
        failure_message=failed.get("message"),
        start_time=_time(status.get("startTime")),
        completion_time=_time(status.get("completionTime")),
    )


@dataclass(frozen=True)
class PodState:
    name: str
    created: datetime | None
    phase: str
    uid: str = ""
    running: bool = False
    exit_code: int | None = None
    terminated_reason: str | None = None
    message: str | None = None
    disrupted: bool = False


def _termination_message(raw: str | None) -> str | None:
    """The transcoder writes a JSON error to its termination log; older or foreign
    containers write text (or Kubernetes falls back to the log tail)."""
    if not raw:
        return None
    try:
        parsed = json.loads(raw.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return raw.strip()[-1024:]
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])
    return raw.strip()[-1024:]


def pod_state(body: dict[str, Any]) -> PodState:
    status = body.get("status") or {}
    container: dict[str, Any] = next(
        (c for c in status.get("containerStatuses") or [] if c.get("name") == names.CONTAINER),
        {},
    )
    state = container.get("state") or {}
    terminated = state.get("terminated") or {}
    disrupted = any(
        c.get("type") == "DisruptionTarget" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return PodState(
        name=body["metadata"]["name"],
        created=_time(body["metadata"].get("creationTimestamp")),
        phase=status.get("phase", "Pending"),
        uid=body["metadata"].get("uid", ""),
        running="running" in state,
        exit_code=terminated.get("exitCode"),
        terminated_reason=terminated.get("reason"),
        message=_termination_message(terminated.get("message")),
        disrupted=disrupted,
    )


# The container runtime reports a process killed by signal N as exit code 128 + N.
_SIGNAL_REASONS = {137: "Killed", 143: "Terminated"}


def failure_reason(pod: PodState) -> str:
    """A CamelCase reason for a failed attempt, from its exit code first."""
    if pod.terminated_reason == "OOMKilled":
        return "OOMKilled"
    if pod.exit_code is not None:
        if pod.exit_code in _SIGNAL_REASONS:
            return _SIGNAL_REASONS[pod.exit_code]
        try:
            return ExitCode(pod.exit_code).reason
        except ValueError:
            pass
    if pod.disrupted:
        return "Disrupted"
    return pod.terminated_reason or "PodFailed"


@dataclass(frozen=True)
class Progress:
    """One progress event of the transcoder (its JSON lines on stdout)."""

    percent: float
    fps: float | None = None
    speed: float | None = None
    eta: float | None = None


def progress_from_line(line: str) -> Progress | None:
    """Parse one log line; anything that is not a progress event yields None."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") != "progress":
        return None
    try:
        return Progress(
            percent=max(0.0, min(100.0, float(event["percent"]))),
            fps=_optional_float(event.get("fps")),
            speed=_optional_float(event.get("speed")),
            eta=_optional_float(event.get("eta")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number >= 0 else None
