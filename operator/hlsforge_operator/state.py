"""What the operator knows about a TranscodeJob's children, reduced from raw API objects.

Pure: these functions take the dicts kopf's watches hand over and keep only what the
status reducer needs, so the reducer can be tested with plain values. The transcoder's own
messages (its log lines, its termination log) are read with ``hlsforge_api.events``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hlsforge_api.events import Error, decode
from hlsforge_api.events import Progress as Progress
from hlsforge_api.exitcodes import ExitCode
from hlsforge_operator import names

_EPOCH = datetime.min.replace(tzinfo=UTC)


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
    created: datetime | None = None
    deleting: bool = False
    """Its deletion began (a released slot, a deleted TranscodeJob): it will not run."""

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
        created=_time(body["metadata"].get("creationTimestamp")),
        deleting=bool(body["metadata"].get("deletionTimestamp")),
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
    unschedulable: bool = False
    """Pending because the scheduler found no node (``PodScheduled=False``, Unschedulable)."""
    unschedulable_since: datetime | None = None
    """When the scheduler first found no node for it (the condition's transition time)."""
    scheduling_message: str | None = None
    """The scheduler's reason, e.g. ``0/1 nodes are available: 1 Insufficient cpu.``"""
    controlled: bool = True
    """A Job owns it; False once orphaned (its Job deleted with ``--cascade=orphan``)."""


def _termination_message(raw: str | None) -> str | None:
    """The transcoder writes its ``error`` event to its termination log; anything else (a
    foreign container's text, or the log tail Kubernetes falls back to) is kept as text."""
    if not raw:
        return None
    lines = raw.strip().splitlines()
    try:
        event = decode(lines[-1]) if lines else None
    except ValueError:
        event = None
    if isinstance(event, Error):
        return event.message
    return raw.strip()[-1024:]


def pod_state(body: dict[str, Any]) -> PodState:
    status = body.get("status") or {}
    container: dict[str, Any] = next(
        (c for c in status.get("containerStatuses") or [] if c.get("name") == names.CONTAINER),
        {},
    )
    state = container.get("state") or {}
    terminated = state.get("terminated") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    disrupted = conditions.get("DisruptionTarget", {}).get("status") == "True"
    scheduled = conditions.get("PodScheduled", {})
    phase = status.get("phase", "Pending")
    unschedulable = (
        phase == "Pending"
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == "Unschedulable"
    )
    return PodState(
        name=body["metadata"]["name"],
        created=_time(body["metadata"].get("creationTimestamp")),
        phase=phase,
        uid=body["metadata"].get("uid", ""),
        running="running" in state,
        exit_code=terminated.get("exitCode"),
        terminated_reason=terminated.get("reason"),
        message=_termination_message(terminated.get("message")),
        disrupted=disrupted,
        unschedulable=unschedulable,
        unschedulable_since=_time(scheduled.get("lastTransitionTime")) if unschedulable else None,
        scheduling_message=(scheduled.get("message") or "")[:1024] or None,
        controlled=any(r.get("controller") for r in body["metadata"].get("ownerReferences") or []),
    )


def newest_pod(pods: Iterable[PodState]) -> PodState | None:
    return max(pods, key=lambda p: p.created or _EPOCH, default=None)


def waiting_for_node(
    pods: Iterable[PodState], now: datetime | None = None, grace: float = 0.0
) -> PodState | None:
    """The newest pod when the scheduler found no node for it, else None. With ``now`` and
    ``grace``: only once it has waited at least ``grace`` seconds."""
    pod = newest_pod(pods)
    if pod is None or not pod.unschedulable:
        return None
    if now is not None and grace > 0:
        since = pod.unschedulable_since
        if since is None or (now - since).total_seconds() < grace:
            return None
    return pod


def holds_slot(
    job: JobState, pods: Iterable[PodState], now: datetime | None = None, grace: float = 0.0
) -> bool:
    """A Job takes a run slot while its pod runs or is about to: not once it finished, not
    while it is being deleted, and not once its newest pod has waited ``grace`` seconds for a
    node. (A pod the scheduler could not place at once, because the node is busy for a
    moment, keeps its slot: releasing it at once let a burst start twice the cap.)"""
    pods = tuple(pods)
    return not job.finished and not job.deleting and waiting_for_node(pods, now, grace) is None


def slot_release_grace(unschedulable_timeout: float) -> float:
    """How long a pod waits for a node before its job gives up its run slot: a quarter of the
    unschedulable timeout, at most 30 s."""
    return min(30.0, unschedulable_timeout / 4)


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


MAX_EVENT_LINE = 64 * 1024
"""Longer log lines are skipped unread: a progress event is ~150 bytes, and a pod's log is
untrusted."""


def progress_from_line(line: str) -> Progress | None:
    """Parse one log line; anything that is not a progress event yields None. Percent is
    clamped to 0..100, and a negative fps, speed or eta is dropped."""
    if len(line) > MAX_EVENT_LINE:
        return None
    try:
        event = decode(line)
    except ValueError:
        return None
    if not isinstance(event, Progress):
        return None
    return event.model_copy(
        update={
            "percent": max(0.0, min(100.0, event.percent)),
            "fps": _non_negative(event.fps),
            "speed": _non_negative(event.speed),
            "eta": _non_negative(event.eta),
        }
    )


def _non_negative(value: float | None) -> float | None:
    return value if value is not None and value >= 0 else None


MAX_LOG_LINE = 64 << 10
"""Longest transcoder log line kept; progress and error events are a few hundred bytes."""


def bounded_lines(chunks: Iterable[bytes], max_line: int = MAX_LOG_LINE) -> Iterator[str]:
    """Lines of a byte stream. A pod's log is untrusted: a line longer than ``max_line`` is
    dropped while it arrives, so one endless line cannot grow the operator's memory."""
    pending, skipping = b"", False
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if not skipping and len(line) <= max_line:
                yield line.decode("utf-8", "replace")
            skipping = False
        if len(pending) > max_line:
            pending, skipping = b"", True
    if pending and not skipping:
        yield pending.decode("utf-8", "replace")
