"""Queue admission: a cluster-wide cap, highest priority first, then oldest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hlsforge_operator.queue import QueueEntry, admits, ordered, slot_free

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def entry(name: str, priority: int = 0, age: int = 0) -> QueueEntry:
    return QueueEntry("ns", name, priority, T0 - timedelta(seconds=age))


def test_order_is_priority_then_age() -> None:
    entries = [entry("new-low", 0, 1), entry("old-low", 0, 50), entry("high", 5, 0)]
    assert [e.name for e in ordered(entries)] == ["high", "old-low", "new-low"]


def test_only_the_first_free_slots_are_admitted() -> None:
    waiting = [entry("a", 0, 30), entry("b", 0, 20), entry("c", 10, 10)]
    assert admits(("ns", "c"), waiting, running=0, cap=2)
    assert admits(("ns", "a"), waiting, running=0, cap=2)
    assert not admits(("ns", "b"), waiting, running=0, cap=2)
    assert admits(("ns", "c"), waiting, running=1, cap=2)
    assert not admits(("ns", "a"), waiting, running=1, cap=2)


def test_a_full_cluster_admits_nobody() -> None:
    assert not admits(("ns", "a"), [entry("a", 100)], running=2, cap=2)
    assert not admits(("ns", "a"), [entry("a", 100)], running=3, cap=2)


def test_an_unknown_job_is_not_admitted() -> None:
    assert not admits(("ns", "zzz"), [entry("a")], running=0, cap=4)


def test_slot_free_counts_running_jobs_and_reservations_not_yet_watched() -> None:
    queue = [(entry("a", 0, 30), True), (entry("b", 0, 20), True), (entry("done", 0, 99), False)]
    # One Job running, one created but not in the watch yet: a cap of 2 is full.
    assert not slot_free(
        ("ns", "a"), queue, with_job={("ns", "x")}, active={("ns", "x")},
        reserved={("ns", "y")}, cap=2,
    )  # fmt: skip
    # The reservation shows up in the watch and its Job finished: one slot, the oldest waits first.
    seen, active, reserved = {("ns", "x"), ("ns", "y")}, {("ns", "x")}, {("ns", "y")}
    assert slot_free(("ns", "a"), queue, with_job=seen, active=active, reserved=reserved, cap=2)
    assert not slot_free(("ns", "b"), queue, with_job=seen, active=active, reserved=reserved, cap=2)


def test_slot_free_never_admits_a_job_that_no_longer_waits() -> None:
    queue = [(entry("a", 0, 30), False)]
    assert not slot_free(("ns", "a"), queue, with_job=set(), active=set(), reserved=set(), cap=4)


def test_a_reserved_job_does_not_queue_behind_itself() -> None:
    queue = [(entry("a", 5, 30), True), (entry("b", 0, 20), True)]
    # "a" was reserved (created, not yet watched): it holds a slot and is not waiting.
    reserved = {("ns", "a")}
    assert slot_free(("ns", "b"), queue, with_job=set(), active=set(), reserved=reserved, cap=2)
    assert not slot_free(("ns", "b"), queue, with_job=set(), active=set(), reserved=reserved, cap=1)
