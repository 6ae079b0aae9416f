"""A failed attempt that is retried says why, once: an ``AttemptFailed`` Warning and the status
message name the reason the pod gave (a full volume, an OOM kill...), not only the final one."""

from __future__ import annotations

from hlsforge_api.v1alpha1 import Phase
from hlsforge_api.v1alpha1 import TranscodeJobStatus as Status
from hlsforge_operator.reconcile import reconcile
from tests.unit.test_operator_reconcile import observe, pod, running_job

FULL = "the volume of /work/out.tmp-x is full (0 bytes free); the attempt failed with: ..."


def _retried(attempts_before: int) -> Status:
    out = reconcile(
        observe(
            Status(phase=Phase.RUNNING, attempts=attempts_before),
            job=running_job(failed=1),
            pods=(
                pod("p1", 0, phase="Failed", exit_code=4, message=FULL),
                pod("p2", 1, phase="Pending"),
            ),
        )
    )
    assert out.status.attempts == 2
    events = [(e.type, e.reason, e.message) for e in out.events]
    if attempts_before == 1:
        assert events == [("Warning", "AttemptFailed", f"attempt 1 failed: StorageError: {FULL}")]
        assert out.status.message == f"retrying after attempt 1 failed (StorageError: {FULL})"
    else:
        assert events == []
    return out.status


def test_the_retry_of_a_failed_attempt_is_reported_once_with_its_reason() -> None:
    status = _retried(1)
    again = reconcile(
        observe(
            status,
            job=running_job(failed=1),
            pods=(
                pod("p1", 0, phase="Failed", exit_code=4, message=FULL),
                pod("p2", 1, phase="Running"),
            ),
        )
    )
    assert again.events == []
    assert again.status.message == status.message


def test_an_attempt_count_already_reported_is_not_reported_again() -> None:
    _retried(2)


def test_the_first_attempt_and_a_kill_without_message() -> None:
    first = reconcile(
        observe(
            Status(phase=Phase.RUNNING, attempts=0),
            job=running_job(),
            pods=(pod("p1", 0, phase="Running"),),
        )
    )
    assert first.events == []
    killed = reconcile(
        observe(
            Status(phase=Phase.RUNNING, attempts=1),
            job=running_job(failed=1),
            pods=(
                pod("p1", 0, phase="Failed", exit_code=137, terminated_reason="OOMKilled"),
                pod("p2", 1, phase="Pending"),
            ),
        )
    )
    assert [e.message for e in killed.events] == ["attempt 1 failed: OOMKilled"]
