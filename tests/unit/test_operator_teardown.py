"""When a deleted TranscodeJob's storage may be cleaned up (``teardown``): only once no
reconciliation is in flight, its Job is gone and none of its pods may still run."""

from __future__ import annotations

import pytest

from hlsforge_operator.teardown import alive, wait_reason


def test_nothing_left_that_can_write_cleans_up() -> None:
    assert wait_reason(reconciling=False, job_present=False, live_pods=[]) is None


def test_a_reconciliation_in_flight_is_waited_for_first() -> None:
    # It may be creating the Job or publishing the output right now.
    reason = wait_reason(reconciling=True, job_present=False, live_pods=[])
    assert reason is not None and "reconciliation" in reason


def test_a_job_still_there_is_waited_for() -> None:
    reason = wait_reason(reconciling=False, job_present=True, live_pods=[])
    assert reason is not None and "Job" in reason


def test_a_live_pod_without_a_job_is_waited_for() -> None:
    # The Job is gone (or the pod was orphaned from it) but the pod still runs: it can write.
    reason = wait_reason(reconciling=False, job_present=False, live_pods=["b-pod", "a-pod"])
    assert reason is not None and "a-pod, b-pod" in reason


@pytest.mark.parametrize(
    ("phase", "can_run"),
    [("Pending", True), ("Running", True), ("Unknown", True), (None, True),
     ("Succeeded", False), ("Failed", False)],
)  # fmt: skip
def test_only_an_ended_pod_can_no_longer_write(phase: str | None, can_run: bool) -> None:
    assert alive(phase) is can_run
