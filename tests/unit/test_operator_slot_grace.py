"""A pod the scheduler could not place keeps its job's run slot for a grace period first.

Releasing it at once let a burst start twice the cap: under a moment of pressure (a busy node)
every new pod was Unschedulable for a second, each released its slot, the next jobs started,
and then all of them ran (fault row 10.2 saw 8 running with a cap of 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hlsforge_operator.state import (
    JobState,
    PodState,
    holds_slot,
    pod_state,
    slot_release_grace,
    waiting_for_node,
)

T0 = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
JOB = JobState("a-transcode")


def waiting_since(at: datetime) -> PodState:
    return PodState(
        name="a-transcode-x", created=T0, phase="Pending", unschedulable=True,
        unschedulable_since=at,
    )  # fmt: skip


def test_a_pod_that_just_failed_to_schedule_keeps_the_slot() -> None:
    pod = waiting_since(T0)
    assert holds_slot(JOB, (pod,), T0 + timedelta(seconds=5), grace=30)
    assert waiting_for_node((pod,), T0 + timedelta(seconds=5), grace=30) is None


def test_after_the_grace_it_gives_the_slot_up() -> None:
    pod = waiting_since(T0)
    assert not holds_slot(JOB, (pod,), T0 + timedelta(seconds=30), grace=30)
    assert waiting_for_node((pod,), T0 + timedelta(seconds=31), grace=30) is pod


def test_without_a_clock_the_wait_counts_at_once() -> None:
    """What reconcile shows (Pending with the scheduler's reason) does not wait."""
    pod = waiting_since(T0)
    assert waiting_for_node((pod,)) is pod
    assert not holds_slot(JOB, (pod,))


def test_no_transition_time_keeps_the_slot_while_a_grace_applies() -> None:
    pod = waiting_since(T0)
    unknown = PodState(pod.name, pod.created, pod.phase, unschedulable=True)
    assert holds_slot(JOB, (unknown,), T0 + timedelta(hours=1), grace=30)


def test_the_grace_is_a_quarter_of_the_timeout_at_most_30_s() -> None:
    assert slot_release_grace(300) == 30
    assert slot_release_grace(10) == 2.5


def test_the_transition_time_is_read_from_the_pod() -> None:
    body = {
        "metadata": {"name": "p", "creationTimestamp": "2026-11-29T22:00:00Z"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "lastTransitionTime": "2026-11-29T22:00:03Z",
                }
            ],
        },
    }
    assert pod_state(body).unschedulable_since == T0 + timedelta(seconds=3)
