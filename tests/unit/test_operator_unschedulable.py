"""A pod no node can take: Pending with the scheduler's reason, no run slot, then requeued at
the back of the queue or Failed ``Unschedulable`` once the requeues are spent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hlsforge_api import conditions as cond
from hlsforge_api.v1alpha1 import ConditionStatus, Phase, TranscodeJobSpec
from hlsforge_api.v1alpha1 import TranscodeJobStatus as Status
from hlsforge_operator.queue import QueueEntry, ordered, slot_free
from hlsforge_operator.reconcile import Action, Observation, Outcome, reconcile
from hlsforge_operator.state import JobState, PodState, holds_slot, job_state, pod_state

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SPEC = TranscodeJobSpec(source="up/a.mp4", output="hls/a")
SCHEDULER = "0/1 nodes are available: 1 Insufficient cpu."
JOB = JobState(name="a-transcode", active=1, created=T0)


def pending_pod(seconds: int = 0, unschedulable: bool = True) -> PodState:
    return PodState(
        name="a-transcode-x",
        created=T0 + timedelta(seconds=seconds),
        phase="Pending",
        unschedulable=unschedulable,
        scheduling_message=SCHEDULER if unschedulable else None,
    )


def observe(status: Status, at: float, **kwargs: Any) -> Observation:
    return Observation(
        spec=SPEC,
        status=status,
        generation=1,
        now=T0 + timedelta(seconds=at),
        job=kwargs.pop("job", JOB),
        pods=kwargs.pop("pods", (pending_pod(),)),
        unschedulable_timeout=60,
        unschedulable_requeues=kwargs.pop("budget", 1),
        **kwargs,
    )


def running() -> Status:
    """What the operator wrote when it created the Job."""
    return reconcile(
        Observation(spec=SPEC, status=Status(), generation=1, now=T0, slot_free=True)
    ).status


def scheduled(status: Status) -> tuple[ConditionStatus, str, str]:
    found = cond.find(status.conditions, cond.SCHEDULED)
    assert found is not None
    return found.status, found.reason, found.message


def test_pod_state_reads_the_schedulers_reason() -> None:
    body: dict[str, Any] = {
        "metadata": {"name": "p", "creationTimestamp": "2026-11-25T09:00:00Z"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": SCHEDULER,
                }
            ],
        },
    }
    pod = pod_state(body)
    assert pod.unschedulable and pod.scheduling_message == SCHEDULER
    body["status"]["conditions"][0].update(status="True", reason=None)
    assert not pod_state(body).unschedulable
    # A pod that is merely starting (no PodScheduled condition yet) is not unschedulable.
    assert not pod_state({"metadata": {"name": "p"}, "status": {"phase": "Pending"}}).unschedulable


def test_a_job_holds_a_slot_while_its_pod_runs_or_is_about_to() -> None:
    assert holds_slot(JOB, ())  # created, no pod yet: about to run
    assert holds_slot(JOB, (pending_pod(unschedulable=False),))
    assert not holds_slot(JOB, (pending_pod(),))
    # The newest pod decides: a retry that found no node frees the slot.
    assert not holds_slot(JOB, (PodState("old", T0, "Failed", exit_code=1), pending_pod(5)))
    assert not holds_slot(JobState("a", complete=True), ())
    deleting = job_state(
        {"metadata": {"name": "a", "deletionTimestamp": "2026-11-25T09:00:00Z"}, "status": {}}
    )
    assert deleting.deleting and not holds_slot(deleting, ())


def test_an_unschedulable_pod_is_pending_with_the_schedulers_reason() -> None:
    out = reconcile(observe(running(), at=5))
    assert out.status.phase is Phase.PENDING
    assert out.action is Action.NONE
    assert scheduled(out.status) == (ConditionStatus.FALSE, "Unschedulable", SCHEDULER)
    assert SCHEDULER in (out.status.message or "")
    assert [(e.type, e.reason) for e in out.events] == [("Warning", "Unschedulable")]
    again = reconcile(observe(out.status, at=30))
    assert again.status == out.status.model_copy(update={"observed_generation": 1})
    assert again.events == []


def _wait(status: Status, first: float, last: float) -> Outcome:
    """Unschedulable from ``first`` on, observed again at ``last``."""
    return reconcile(observe(reconcile(observe(status, at=first)).status, at=last))


def test_after_the_timeout_the_job_gives_its_slot_back_to_the_back_of_the_queue() -> None:
    before = _wait(running(), 5, 64)
    assert before.status.phase is Phase.PENDING and before.action is Action.NONE
    out = _wait(running(), 5, 65)
    assert out.action is Action.RELEASE_JOB
    assert out.status.phase is Phase.QUEUED
    assert out.status.requeues == 1
    assert out.status.requeued_at == T0 + timedelta(seconds=65)
    assert scheduled(out.status)[:2] == (ConditionStatus.FALSE, "Requeued")
    assert [e.reason for e in out.events] == ["Requeued"]
    # In the queue it now ranks by the requeue, behind a job created a minute after it.
    later = QueueEntry("ns", "b", 0, T0 + timedelta(seconds=60))
    requeued = QueueEntry("ns", "a", 0, out.status.requeued_at or T0)
    assert [e.name for e in ordered([requeued, later])] == ["b", "a"]


def test_the_job_given_back_is_ignored_until_it_is_gone() -> None:
    requeued = _wait(running(), 5, 65).status
    # The watch still shows the old Job (not yet marked deleting): nothing changes.
    out = reconcile(observe(requeued, at=66))
    assert out.status.phase is Phase.QUEUED and out.action is Action.NONE and not out.events
    # A new Job made after the requeue (same second, 1 s timestamps) is the job's again.
    fresh = JobState(name="a-transcode", active=1, created=T0 + timedelta(seconds=65))
    out = reconcile(observe(requeued, at=66, job=fresh, pods=()))
    assert out.status.phase is Phase.RUNNING


def test_once_the_requeues_are_spent_the_job_fails_unschedulable() -> None:
    requeued = _wait(running(), 5, 65).status
    admitted = reconcile(
        Observation(spec=SPEC, status=requeued, generation=1, now=T0 + timedelta(seconds=70),
                    slot_free=True)
    ).status  # fmt: skip
    assert admitted.phase is Phase.RUNNING
    fresh = JobState(name="a-transcode", active=1, created=T0 + timedelta(seconds=70))
    waiting = reconcile(observe(admitted, at=75, job=fresh)).status
    assert waiting.phase is Phase.PENDING
    # The wait counts from the new Unschedulable, not from the first one.
    assert reconcile(observe(waiting, at=130, job=fresh)).action is Action.NONE
    out = reconcile(observe(waiting, at=135, job=fresh))
    assert out.action is Action.RELEASE_JOB
    assert out.status.phase is Phase.FAILED
    assert out.status.reason == "Unschedulable"
    assert SCHEDULER in (out.status.message or "")
    assert cond.is_true(out.status.conditions, cond.FAILED)
    assert [e.reason for e in out.events] == ["TranscodeFailed"]


def test_no_budget_fails_at_the_first_timeout() -> None:
    first = reconcile(observe(running(), at=5, budget=0)).status
    out = reconcile(observe(first, at=65, budget=0))
    assert out.status.phase is Phase.FAILED and out.status.reason == "Unschedulable"


def test_a_pod_that_finds_a_node_after_all_runs() -> None:
    waiting = reconcile(observe(running(), at=5)).status
    out = reconcile(observe(waiting, at=20, pods=(pending_pod(unschedulable=False),)))
    assert out.status.phase is Phase.RUNNING
    assert scheduled(out.status)[:2] == (ConditionStatus.TRUE, "PodScheduled")
    assert out.action is Action.NONE


def test_jobs_waiting_for_a_node_hold_no_slot_up_to_the_cap() -> None:
    def entry(name: str, age: int) -> QueueEntry:
        return QueueEntry("ns", name, 0, T0 - timedelta(seconds=age))

    queue = [(entry("w1", 90), False), (entry("w2", 80), False), (entry("next", 10), True)]
    one = {("ns", "w1")}
    two = {("ns", "w1"), ("ns", "w2")}
    free = {"with_job": two, "active": set(), "reserved": set()}
    # Cap 1: one job waiting for a node leaves the slot to the next job ...
    assert slot_free(("ns", "next"), queue, **free, cap=1, waiting_for_node=one)
    # ... two of them (a cluster that is full, not too small) count again beyond the cap.
    assert not slot_free(("ns", "next"), queue, **free, cap=1, waiting_for_node=two)
    assert slot_free(("ns", "next"), queue, **free, cap=2, waiting_for_node=two)
