"""When a deleted TranscodeJob's storage may be cleaned up. Pure.

The delete handler removes the job's partial attempts and, per retention, its output. That is
safe only once nothing of the job can write to the volume any more:

- no reconciliation of the job is in flight: kopf runs the delete handler in parallel with the
  last timer run, which may be creating the Job or publishing (committing) the output;
- its batch/v1 Job is gone (deleted in the foreground, so after its pods);
- no pod of the job is still alive, whatever owns it: a pod asked to stop keeps running for its
  grace period, and a pod orphaned from its Job (``--cascade=orphan``) has no Job to wait for.
  A pod that ended (phase Succeeded or Failed) has no running container left.

The handler asks again until ``wait_reason`` is None, so each step is safe to repeat.
"""

from __future__ import annotations

from collections.abc import Collection

ENDED_POD_PHASES = frozenset({"Succeeded", "Failed"})


def alive(phase: str | None) -> bool:
    """A pod in this phase may still run a container (Pending may still start one)."""
    return phase not in ENDED_POD_PHASES


def wait_reason(*, reconciling: bool, job_present: bool, live_pods: Collection[str]) -> str | None:
    """Why the cleanup must wait, or None when nothing of the job can write any more."""
    if reconciling:
        return "waiting for the reconciliation in flight to end"
    if job_present:
        return "waiting for the Job to be deleted (its pods first)"
    if live_pods:
        return f"waiting for the pods to end: {', '.join(sorted(live_pods))}"
    return None
