"""Which queued TranscodeJobs may start: a cluster-wide cap, by priority then age. Pure."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class QueueEntry:
    namespace: str
    name: str
    priority: int
    created: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def ordered(entries: Iterable[QueueEntry]) -> list[QueueEntry]:
    """Highest priority first; among equals the oldest first (names break exact ties)."""
    return sorted(entries, key=lambda e: (-e.priority, e.created, e.namespace, e.name))


def admits(key: tuple[str, str], waiting: Iterable[QueueEntry], running: int, cap: int) -> bool:
    """True when the job ``key`` (one of ``waiting``) may start now.

    A job starts only if every job ahead of it could start too, so a low-priority job never
    takes the slot that a higher-priority one is about to claim.
    """
    free = cap - running
    if free <= 0:
        return False
    keys = [e.key for e in ordered(waiting)]
    return key in keys and keys.index(key) < free


def slot_free(
    key: tuple[str, str],
    queue: Iterable[tuple[QueueEntry, bool]],
    *,
    with_job: Collection[tuple[str, str]],
    active: Collection[tuple[str, str]],
    reserved: Collection[tuple[str, str]],
    cap: int,
    waiting_for_node: Collection[tuple[str, str]] = (),
) -> bool:
    """True when ``key`` may start now, from the operator's view of the cluster.

    ``queue`` is every TranscodeJob with whether it waits (Pending or Queued); ``with_job``
    the ones whose Job the watch shows, ``active`` those of them with an unfinished Job, and
    ``reserved`` the ones whose Job was created but is not in the watch yet (they hold a slot).

    ``waiting_for_node`` are those with an unfinished Job whose pod no node can take (not in
    ``active``): they hold no slot, up to ``cap`` of them; more count again, so a cluster
    that is merely full is not flooded with Jobs whose pods all wait.
    """
    running = len(active) + sum(1 for k in reserved if k not in with_job)
    running += max(0, len(waiting_for_node) - cap)
    waiting = [
        entry
        for entry, waits in queue
        if waits and entry.key not in with_job and entry.key not in reserved
    ]
    return admits(key, waiting, running, cap)
