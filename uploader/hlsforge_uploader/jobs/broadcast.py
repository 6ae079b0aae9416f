"""Fan-out of TranscodeJob changes from the one watch to every WebSocket client.

``History`` is the pure part: the recent changes, each with its resourceVersion, so a
client that reconnects with the last version it saw gets exactly what it missed, or a fresh
snapshot when that version is no longer held. ``Broadcaster`` lives on the event loop: the
watch thread hands it changes with ``call_soon_threadsafe``; each client has a bounded queue,
and a client too slow to keep up is disconnected (it reconnects and resumes) rather than
letting memory grow.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
QUEUE_SIZE = 256


@dataclass(frozen=True)
class Change:
    resource_version: str
    type: str
    """ADDED, MODIFIED or DELETED; ``MARK`` for a version without a change (list, bookmark)."""
    obj: Obj | None

    @property
    def name(self) -> str | None:
        return None if self.obj is None else (self.obj.get("metadata") or {}).get("name")


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


@dataclass
class History:
    """The latest object of every job plus the recent changes, in watch order."""

    size: int = 1000
    objects: dict[str, Obj] = field(default_factory=dict)
    changes: deque[Change] = field(default_factory=deque)
    last_rv: str | None = None

    def _push(self, change: Change) -> None:
        self.changes.append(change)
        while len(self.changes) > self.size:
            self.changes.popleft()
        self.last_rv = change.resource_version

    def snapshot(self, items: list[Obj], rv: str) -> list[Change]:
        """A (re)list: returns the changes it implies relative to what was known."""
        fresh = {str(o["metadata"]["name"]): o for o in items}
        implied: list[Change] = []
        for name, gone in self.objects.items():
            if name not in fresh:
                implied.append(Change(rv, "DELETED", gone))
        for name, obj in fresh.items():
            known = self.objects.get(name)
            if known is None:
                implied.append(Change(_rv(obj), "ADDED", obj))
            elif _rv(known) != _rv(obj):
                implied.append(Change(_rv(obj), "MODIFIED", obj))
        self.objects = fresh
        for change in implied:
            self._push(change)
        self._push(Change(rv, "MARK", None))
        return implied

    def apply(self, kind: str, obj: Obj) -> Change | None:
        """One watch event; returns the change to broadcast (None for a bookmark)."""
        rv = _rv(obj)
        if kind == "BOOKMARK":
            self._push(Change(rv, "MARK", None))
            return None
        name = str((obj.get("metadata") or {}).get("name"))
        if kind == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj
        change = Change(rv, kind, obj)
        self._push(change)
        return change

    def since(self, rv: str) -> list[Change] | None:
        """The changes after version ``rv``, or None when ``rv`` is not held (snapshot then)."""
        if rv == self.last_rv:
            return []
        for index, change in enumerate(self.changes):
            if change.resource_version == rv:
                return [c for c in list(self.changes)[index + 1 :] if c.type != "MARK"]
        return None

    def jobs(self, name: str | None = None) -> list[Obj]:
        if name is not None:
            return [self.objects[name]] if name in self.objects else []
        return sorted(
            self.objects.values(),
            key=lambda o: str(o["metadata"].get("creationTimestamp", "")),
            reverse=True,
        )


@dataclass(eq=False)  # identity: kept in a set
class Subscriber:
    name: str | None
    """Only this job's changes; None for every job."""
    sees: Callable[[Obj], bool] = field(default=lambda _: True)
    """Only the changes of jobs this is true of (the caller's own jobs)."""
    queue: asyncio.Queue[Change | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False


class Broadcaster:
    """Owned by the app's lifespan; fed by the watch thread, read by WebSocket routes."""

    def __init__(self, history_size: int = 1000) -> None:
        self.history = History(size=history_size)
        self.subscribers: set[Subscriber] = set()
        self.synced = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    # Called from the watch thread.
    def from_thread_snapshot(self, items: list[Obj], rv: str) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._snapshot, items, rv)

    def from_thread_change(self, kind: str, obj: Obj) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._change, kind, obj)

    # On the loop.
    def _snapshot(self, items: list[Obj], rv: str) -> None:
        for change in self.history.snapshot(items, rv):
            self._fan_out(change)
        self.synced.set()

    def _change(self, kind: str, obj: Obj) -> None:
        change = self.history.apply(kind, obj)
        if change is not None:
            self._fan_out(change)

    def _fan_out(self, change: Change) -> None:
        for sub in list(self.subscribers):
            if sub.name is not None and sub.name != change.name:
                continue
            if change.obj is not None and not sub.sees(change.obj):
                continue
            try:
                sub.queue.put_nowait(change)
            except asyncio.QueueFull:
                # Too slow: empty its queue and leave only the end marker. It reconnects
                # with its last version and replays from the history instead.
                sub.dropped = True
                self.subscribers.discard(sub)
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(None)

    def subscribe(
        self,
        name: str | None,
        resume_rv: str | None,
        sees: Callable[[Obj], bool] = lambda _: True,
    ) -> tuple[Subscriber, list[Change] | None]:
        """Register a client that ``sees`` some jobs. Returns its subscriber and the changes to
        replay first, or None when the client must start from a snapshot (``history.jobs``)."""
        sub = Subscriber(name, sees)
        missed = self.history.since(resume_rv) if resume_rv else None
        if missed is not None and name is not None:
            missed = [c for c in missed if c.name == name]
        if missed is not None:
            missed = [c for c in missed if c.obj is not None and sees(c.obj)]
        self.subscribers.add(sub)
        return sub, missed

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def __iter__(self) -> Iterator[Subscriber]:
        return iter(self.subscribers)
