"""The event history: resume from a version, or a snapshot when it is gone; re-list diffs."""

from __future__ import annotations

import asyncio
from typing import Any

from hlsforge_uploader.jobs.broadcast import Broadcaster, History


def tj(name: str, rv: int, phase: str = "Pending", created: str = "2026-01-01T00:00:00Z") -> Any:
    return {
        "metadata": {"name": name, "resourceVersion": str(rv), "creationTimestamp": created},
        "status": {"phase": phase},
    }


def test_resume_returns_exactly_the_changes_after_a_version() -> None:
    h = History(size=100)
    h.snapshot([tj("a", 5)], "10")
    h.apply("MODIFIED", tj("a", 11, "Running"))
    h.apply("BOOKMARK", {"metadata": {"resourceVersion": "12"}})
    h.apply("ADDED", tj("b", 13))
    h.apply("DELETED", tj("a", 14, "Running"))
    assert [(c.type, c.resource_version) for c in h.since("10") or []] == [
        ("MODIFIED", "11"),
        ("ADDED", "13"),
        ("DELETED", "14"),
    ]
    assert [c.resource_version for c in h.since("12") or []] == ["13", "14"]
    assert h.since("14") == []
    assert h.since("7") is None  # never seen: snapshot instead
    assert [o["metadata"]["name"] for o in h.jobs()] == ["b"]


def test_a_version_that_fell_out_of_the_history_means_snapshot() -> None:
    h = History(size=3)
    h.snapshot([], "1")
    for rv in range(2, 10):
        h.apply("ADDED", tj(f"j{rv}", rv))
    assert h.since("2") is None
    assert [c.resource_version for c in h.since("7") or []] == ["8", "9"]


def test_a_relist_after_410_implies_the_missed_changes() -> None:
    h = History()
    h.snapshot([tj("a", 1), tj("b", 2)], "2")
    implied = h.snapshot([tj("b", 7, "Running"), tj("c", 8)], "9")
    assert sorted((c.type, c.name) for c in implied) == [
        ("ADDED", "c"),
        ("DELETED", "a"),
        ("MODIFIED", "b"),
    ]
    assert h.since("2") is not None
    assert h.last_rv == "9"


def test_one_feed_reaches_every_subscriber_and_a_slow_one_is_cut_off() -> None:
    async def scenario() -> None:
        b = Broadcaster()
        b.bind(asyncio.get_running_loop())
        b.from_thread_snapshot([tj("a", 1)], "1")
        await asyncio.sleep(0)
        everyone, missed = b.subscribe(None, None)
        only_b, _ = b.subscribe("b", "1")
        assert missed is None  # no version given: the route sends a snapshot
        b.from_thread_change("ADDED", tj("b", 2))
        b.from_thread_change("MODIFIED", tj("a", 3, "Running"))
        await asyncio.sleep(0)
        got = [everyone.queue.get_nowait(), everyone.queue.get_nowait()]
        assert [c.name if c else None for c in got] == ["b", "a"]
        first_b = only_b.queue.get_nowait()
        assert first_b is not None and first_b.name == "b" and only_b.queue.empty()
        for rv in range(4, 4 + 300):  # nobody reads: the queue (256) overflows
            b.from_thread_change("MODIFIED", tj("a", rv, "Running"))
        await asyncio.sleep(0)
        assert everyone.dropped and everyone not in b.subscribers
        assert everyone.queue.get_nowait() is None  # the end marker only

    asyncio.run(scenario())
