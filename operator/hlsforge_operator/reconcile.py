"""The status reducer: from what is observed to the status a TranscodeJob should have.

Pure. The handler gathers an ``Observation`` (the CR's status, its Job and pods from the
watch indexes, the last progress line, whether a run slot is free), calls ``reconcile``,
performs the one ``Action`` it returns (create the Job, verify the output, delete the
source), feeds the result back through ``after_verify``/``after_source_deleted``, and
writes the status if it changed. Events are returned, never posted, so they can be tested.

Ordering that keeps media safe: Succeeded is written only after the output verified, and
the source is deleted only once Succeeded is persisted (a later reconciliation), so a crash
at any point leaves either the source or a verified output, never neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hlsforge_api import conditions as cond
from hlsforge_api.v1alpha1 import (
    ConditionStatus,
    Outputs,
    Phase,
    SourcePolicy,
    TranscodeJobSpec,
    TranscodeJobStatus,
)
from hlsforge_operator.outcome import Action as Action
from hlsforge_operator.outcome import Event as Event
from hlsforge_operator.outcome import Outcome as Outcome
from hlsforge_operator.outcome import set_condition as _set
from hlsforge_operator.state import (
    JobState,
    PodState,
    Progress,
    failure_reason,
    waiting_for_node,
)
from hlsforge_operator.unschedulable import released, unschedulable


@dataclass(frozen=True)
class Observation:
    spec: TranscodeJobSpec
    status: TranscodeJobStatus
    generation: int | None
    now: datetime
    job: JobState | None = None
    pods: tuple[PodState, ...] = ()
    progress: Progress | None = None
    slot_free: bool = False
    """The queue admits this job now (capacity and its rank allow it)."""
    pods_seen: int = 0
    """Distinct pods this operator has seen for the Job, including ones deleted since: an
    evicted pod is deleted and not counted by the Job, but it was an attempt."""
    unschedulable_timeout: float = 300.0
    """Seconds a pod may wait for a node before the job gives its slot back."""
    unschedulable_requeues: int = 2
    """Slots a job may give back that way; once spent it fails ``Unschedulable``."""


def _attempts(obs: Observation, job: JobState) -> int:
    """Never below what was already reported (a restarted operator has not seen old pods)."""
    counted = job.failed + job.succeeded + (1 if job.active else 0)
    return max(obs.status.attempts, obs.pods_seen, len(obs.pods), counted)


def _last_failed_pod(pods: tuple[PodState, ...]) -> PodState | None:
    failed = [p for p in pods if p.exit_code not in (None, 0) or p.phase == "Failed"]
    return max(failed, key=lambda p: p.created or datetime.min, default=None)


def _report_retry(out: Outcome, obs: Observation) -> None:
    """A new attempt after a failed one: say why the last one failed (``AttemptFailed``
    Warning, and the status message) once, when the attempt count goes up; the final
    failure is ``_fail``'s."""
    pod = _last_failed_pod(obs.pods)
    if pod is None or not 0 < obs.status.attempts < out.status.attempts:
        return
    reason = failure_reason(pod)
    detail = f"{reason}: {pod.message}" if pod.message else reason
    out.status.message = f"retrying after attempt {obs.status.attempts} failed ({detail})"
    out.events.append(
        Event("Warning", "AttemptFailed", f"attempt {obs.status.attempts} failed: {detail}")
    )


def reconcile(obs: Observation) -> Outcome:
    status = obs.status.model_copy(deep=True)
    status.observed_generation = obs.generation
    out = Outcome(status=status)
    phase = status.phase

    if phase is Phase.SUCCEEDED:
        if obs.spec.source_policy is SourcePolicy.DELETE_ON_SUCCESS and not status.source_deleted:
            out.action = Action.DELETE_SOURCE
        return out
    if phase is Phase.FAILED:
        return out

    if obs.job is None:
        if phase is Phase.RUNNING:
            # The Job vanished under a running transcode (deleted by hand): run it again.
            # A finished output is never overwritten (the transcoder commits once).
            out.action = Action.CREATE_JOB
            out.events.append(Event("Warning", "JobRecreated", "the Job disappeared; recreated"))
        elif obs.slot_free:
            out.action = Action.CREATE_JOB
            status.phase = Phase.RUNNING
            status.start_time = status.start_time or obs.now
            status.message = "transcoding"
            _set(
                status,
                obs.now,
                obs.generation,
                cond.SCHEDULED,
                ConditionStatus.TRUE,
                "JobCreated",
                "a Job runs the transcode",
            )
            out.events.append(Event("Normal", "TranscodeStarted", "created the transcode Job"))
        elif phase is not Phase.QUEUED:
            status.phase = Phase.QUEUED
            status.message = "waiting for a free transcode slot"
            _set(
                status,
                obs.now,
                obs.generation,
                cond.SCHEDULED,
                ConditionStatus.FALSE,
                "Queued",
                "waiting for a free transcode slot",
            )
            out.events.append(Event("Normal", "Queued", "waiting for a free transcode slot"))
        return out

    job = obs.job
    if phase in (Phase.PENDING, Phase.QUEUED) and released(job, status):
        return out  # the Job given back at the requeue is still going away
    if not job.finished and (waiting := waiting_for_node(obs.pods)) is not None:
        unschedulable(
            out,
            waiting,
            obs.now,
            obs.generation,
            obs.unschedulable_timeout,
            obs.unschedulable_requeues,
        )
        return out
    status.phase = Phase.RUNNING
    status.attempts = _attempts(obs, job)
    _report_retry(out, obs)
    scheduled = cond.find(status.conditions, cond.SCHEDULED)
    if scheduled is not None and scheduled.status is not ConditionStatus.TRUE:
        status.message = "transcoding"
        _set(
            status,
            obs.now,
            obs.generation,
            cond.SCHEDULED,
            ConditionStatus.TRUE,
            "PodScheduled",
            "a node took the transcode pod",
        )
    if obs.progress is not None and not job.finished:
        status.progress = round(obs.progress.percent, 1)
        status.fps = obs.progress.fps
        status.speed = obs.progress.speed
        status.eta = round(obs.progress.eta) if obs.progress.eta is not None else None

    if job.complete:
        out.action = Action.VERIFY_OUTPUT
    elif job.failed_final:
        _fail(out, obs, job)
    return out


OOM_HINT = (
    "the transcoder ran out of memory (its container's limit): raise "
    "spec.resources.limits.memory, or ask for fewer or smaller renditions"
)


def _fail(out: Outcome, obs: Observation, job: JobState) -> None:
    status = out.status
    pod = _last_failed_pod(obs.pods)
    reason = failure_reason(pod) if pod is not None else (job.failure_reason or "JobFailed")
    if job.failure_reason == "DeadlineExceeded":
        reason = "DeadlineExceeded"
    details = [m for m in (pod.message if pod else None, job.failure_message) if m]
    message = "; ".join(details) or "the transcode Job failed"
    if reason == "OOMKilled":
        message = f"{OOM_HINT}; {message}"
    status.phase = Phase.FAILED
    status.reason = reason
    status.message = message
    status.completion_time = obs.now
    status.eta = None
    _set(status, obs.now, obs.generation, cond.FAILED, ConditionStatus.TRUE, reason, message)
    _set(status, obs.now, obs.generation, cond.SUCCEEDED, ConditionStatus.FALSE, reason, message)
    out.events.append(Event("Warning", "TranscodeFailed", f"{reason}: {message}"))


def after_verify(
    outcome: Outcome,
    now: datetime,
    generation: int | None,
    outputs: Outputs | None,
    error: str | None,
) -> Outcome:
    """Fold the result of verifying a completed Job's output into the status."""
    status = outcome.status
    if outputs is None:
        message = f"the Job completed but its output did not verify: {error}"
        status.phase = Phase.FAILED
        status.reason = "VerifyFailed"
        status.message = message
        status.completion_time = now
        _set(status, now, generation, cond.FAILED, ConditionStatus.TRUE, "VerifyFailed", message)
        _set(
            status, now, generation, cond.SUCCEEDED, ConditionStatus.FALSE, "VerifyFailed", message
        )
        outcome.events.append(Event("Warning", "VerifyFailed", message))
        return outcome
    status.phase = Phase.SUCCEEDED
    status.progress = 100
    status.eta = 0
    status.outputs = outputs
    status.reason = None
    status.message = f"{len(outputs.renditions)} renditions verified"
    status.completion_time = now
    _set(
        status,
        now,
        generation,
        cond.SUCCEEDED,
        ConditionStatus.TRUE,
        "OutputVerified",
        status.message,
    )
    outcome.events.append(Event("Normal", "TranscodeSucceeded", status.message))
    return outcome


def after_source_deleted(
    outcome: Outcome, now: datetime, generation: int | None, existed: bool
) -> Outcome:
    status = outcome.status
    status.source_deleted = True
    message = "source deleted after the output verified" if existed else "source already absent"
    _set(
        status, now, generation, cond.SOURCE_DELETED, ConditionStatus.TRUE, "SourceDeleted", message
    )
    outcome.events.append(Event("Normal", "SourceDeleted", message))
    return outcome


def rejected(
    current: TranscodeJobStatus,
    now: datetime,
    generation: int | None,
    message: str,
    reason: str = "InvalidSpec",
) -> Outcome:
    """A job refused before any pod ran (an invalid spec, a location it may not use, a source
    that is not there): Failed with ``reason``, the message naming the rule."""
    status = current.model_copy(
        update={
            "phase": Phase.FAILED,
            "reason": reason,
            "message": message,
            "completion_time": now,
            "observed_generation": generation,
        }
    )
    return Outcome(status=status, events=[Event("Warning", reason, message)])
