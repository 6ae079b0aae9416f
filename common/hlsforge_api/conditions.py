"""Kubernetes-style conditions (``metav1.Condition``) on a TranscodeJob's status.

Condition types, positive polarity, one per aspect a user asks about:
``Scheduled`` (a Job runs or will run the transcode; False with reason ``Queued``,
``Unschedulable`` (its pod waits for a node; the scheduler's message) or ``Requeued``),
``Succeeded`` (output committed and verified), ``Failed`` (given up, with the reason),
``SourceDeleted`` (the source is gone).
"""

from __future__ import annotations

from datetime import datetime

from hlsforge_api.v1alpha1 import Condition, ConditionStatus

SCHEDULED = "Scheduled"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
SOURCE_DELETED = "SourceDeleted"

UNSCHEDULABLE = "Unschedulable"
"""Reason of ``Scheduled=False`` while no node can take the pod, and of the failure once the
job's requeues are spent."""
REQUEUED = "Requeued"


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """Return ``conditions`` with ``type_`` set; the others are kept in their order.

    ``lastTransitionTime`` moves only when the status changes, as the API conventions
    require, so repeating the same update is a no-op apart from reason/message.
    """
    previous = next((c for c in conditions if c.type == type_), None)
    changed = previous is None or previous.status != status
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now if changed or previous is None else previous.last_transition_time,
        observed_generation=observed_generation,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type_ else c for c in conditions]


def find(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: list[Condition], type_: str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.status is ConditionStatus.TRUE
