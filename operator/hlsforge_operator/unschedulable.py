"""A transcode pod that no node can take (``PodScheduled=False``, reason Unschedulable).

Pure, called by the reducer (``reconcile``) while the TranscodeJob's Job exists. Such a job is
not Running: it shows Pending with the scheduler's reason, and holds no run slot
(``state.holds_slot``). After ``timeout`` seconds it gives its Job back and returns to the
back of the queue (``status.requeuedAt`` orders it), up to ``budget`` times; then it fails
with reason ``Unschedulable``.
"""

from __future__ import annotations

from datetime import datetime

from hlsforge_api import conditions as cond
from hlsforge_api.v1alpha1 import ConditionStatus, Phase, TranscodeJobStatus
from hlsforge_operator.outcome import Action, Event, Outcome, set_condition
from hlsforge_operator.state import JobState, PodState


def released(job: JobState, status: TranscodeJobStatus) -> bool:
    """The Job is the one this job gave back when it was requeued. A Job made after the
    requeue has a creation time (whole seconds) no earlier than the requeue's second; the
    one given back was made at least ``unschedulable_timeout`` (>= 1 s) before it."""
    if job.deleting:
        return True
    requeued = status.requeued_at
    return (
        requeued is not None
        and job.created is not None
        and job.created < requeued.replace(microsecond=0)
    )


def unschedulable(
    out: Outcome,
    pod: PodState,
    now: datetime,
    generation: int | None,
    timeout: float,
    budget: int,
) -> None:
    """The Job's pod waits for a node: Pending with the scheduler's reason, and after the
    timeout the slot goes back to the queue, or the job fails once its requeues are spent."""
    status = out.status
    reason = pod.scheduling_message or "no node can run the transcode pod"
    before = cond.find(status.conditions, cond.SCHEDULED)
    first = before is None or before.reason != cond.UNSCHEDULABLE
    since = now if first or before is None else before.last_transition_time
    status.phase = Phase.PENDING
    status.message = f"waiting for a node: {reason}"
    status.attempts = max(status.attempts, 1)
    status.fps = status.speed = status.eta = None
    set_condition(
        status,
        now,
        generation,
        cond.SCHEDULED,
        ConditionStatus.FALSE,
        cond.UNSCHEDULABLE,
        reason,
    )
    if first:  # the condition may have been False already (Queued): the wait starts now
        status.conditions = [
            c.model_copy(update={"last_transition_time": now}) if c.type == cond.SCHEDULED else c
            for c in status.conditions
        ]
        out.events.append(Event("Warning", cond.UNSCHEDULABLE, reason))
    waited = (now - since).total_seconds()
    if waited < timeout:
        return
    out.action = Action.RELEASE_JOB
    if status.requeues < budget:
        status.requeues += 1
        status.requeued_at = now
        status.phase = Phase.QUEUED
        status.progress = 0
        message = (
            f"no node took the pod in {waited:.0f}s ({reason}); requeued "
            f"({status.requeues} of {budget})"
        )
        status.message = message
        set_condition(
            status,
            now,
            generation,
            cond.SCHEDULED,
            ConditionStatus.FALSE,
            cond.REQUEUED,
            message,
        )
        out.events.append(Event("Normal", cond.REQUEUED, message))
        return
    message = f"no node took the pod in {waited:.0f}s ({reason})"
    if budget:
        message += f", after {status.requeues} requeues"
    status.phase = Phase.FAILED
    status.reason = cond.UNSCHEDULABLE
    status.message = message
    status.completion_time = now
    set_condition(
        status,
        now,
        generation,
        cond.FAILED,
        ConditionStatus.TRUE,
        cond.UNSCHEDULABLE,
        message,
    )
    set_condition(
        status,
        now,
        generation,
        cond.SUCCEEDED,
        ConditionStatus.FALSE,
        cond.UNSCHEDULABLE,
        message,
    )
    out.events.append(Event("Warning", "TranscodeFailed", f"{cond.UNSCHEDULABLE}: {message}"))
