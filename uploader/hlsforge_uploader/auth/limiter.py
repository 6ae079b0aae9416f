"""The per-process quota book: admits or refuses (``QuotaExceeded``, a 429 with Retry-After)
before a request body is read.

Hourly bytes are counted from the Kubernetes API, the only job store: the TranscodeJobs of the
process's one watch (``live``, every replica sees the same) plus a ledger of jobs deleted in
the last hour, also fed by the watch, so deleting a job does not give its bytes back (and of
the jobs this process created, until the watch brings them). The ledger lives in memory:
after a restart it starts empty (deletions made before are forgotten).

Uploads in flight and outstanding direct-upload tickets are counted per replica, in memory:
with N uploader replicas a token may hold up to N times each limit (documented in
docs/uploader.md). A ticket is forgotten when it is completed or expires.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import count
from typing import Any

from hlsforge_uploader.auth.callers import Caller, owner_of
from hlsforge_uploader.auth.quotas import (
    WINDOW_SECONDS,
    Spent,
    TokenQuotas,
    bytes_retry_after,
    spent_of,
    tickets_retry_after,
)
from hlsforge_uploader.errors import NotFound, QuotaExceeded, TooLarge

Obj = dict[str, Any]


class QuotaBook:
    def __init__(self, quotas: TokenQuotas, live: Callable[[], Iterable[Obj]]) -> None:
        self.quotas = quotas
        self.live = live
        self._deleted: dict[str, tuple[str, Spent]] = {}
        self._lock = threading.Lock()
        self._uploads: dict[str, dict[int, int]] = {}
        self._slots = count()
        self._tickets: dict[str, tuple[str, float]] = {}

    # The watch thread.
    def record(self, kind: str, obj: Obj) -> None:
        """A watch event: keep what a deleted job spent for the rest of its hour."""
        if kind == "DELETED":
            self.created(obj)

    def created(self, obj: Obj) -> None:
        """Count a job this process just created at once: the watch may bring it a moment
        later, and the next upload must not slip through in between."""
        owner, spent = owner_of(obj), spent_of(obj)
        uid = (obj.get("metadata") or {}).get("uid")
        if owner is not None and spent is not None and isinstance(uid, str):
            with self._lock:
                self._deleted[uid] = (owner, spent)

    # The event loop.
    def spent(self, name: str, now: float) -> list[Spent]:
        """What ``name`` spent in the hour before ``now``: its jobs, live or deleted."""
        found: dict[str, Spent] = {}
        for obj in self.live():
            spent = spent_of(obj)
            if spent is not None and owner_of(obj) == name:
                found[str((obj.get("metadata") or {}).get("uid"))] = spent
        with self._lock:
            for uid, (owner, spent) in list(self._deleted.items()):
                if now - spent.at >= WINDOW_SECONDS:
                    del self._deleted[uid]
                elif owner == name:
                    found.setdefault(uid, spent)
        return [s for s in found.values() if now - s.at < WINDOW_SECONDS]

    @contextlib.contextmanager
    def upload(self, caller: Caller, declared: int | None, now: float) -> Iterator[None]:
        """Hold one upload slot of ``caller`` for the body of the ``with``; ``declared`` is the
        request's Content-Length (None: chunked, counted as one byte until its job exists)."""
        self.check_bytes(caller, declared or 1, now)
        mine = self._uploads.setdefault(caller.name, {})
        limit = self.quotas.concurrent_uploads
        if limit and len(mine) >= limit:
            retry = self.quotas.busy_retry_seconds
            raise QuotaExceeded(
                "concurrent_uploads",
                f"this token already has {len(mine)} uploads in flight (the limit is {limit})",
                retry,
            )
        slot = next(self._slots)
        mine[slot] = declared or 0
        try:
            yield
        finally:
            mine.pop(slot, None)
            if not mine:
                self._uploads.pop(caller.name, None)

    def check_bytes(self, caller: Caller, wanted: int, now: float) -> None:
        limit = self.quotas.bytes_per_hour
        if not limit:
            return
        if wanted > limit:
            raise TooLarge(
                f"the upload ({wanted} bytes) exceeds this token's hourly allowance of "
                f"{limit} bytes",
                extra={"limit": limit},
            )
        flying = [Spent(now, size) for size in self._uploads.get(caller.name, {}).values()]
        retry = bytes_retry_after(self.spent(caller.name, now) + flying, limit, wanted, now)
        if retry is not None:
            raise QuotaExceeded(
                "bytes_per_hour",
                f"this token's uploads of the last hour plus this one exceed {limit} bytes",
                retry,
            )

    def reserve_ticket(self, caller: Caller, upload_id: str, now: float, ttl: float) -> None:
        """Count a ticket about to be handed out (expiring ``ttl`` seconds from ``now``, until
        ``confirm_ticket`` gives its real expiry); ``drop_ticket`` if it was not."""
        limit = self.quotas.direct_tickets
        mine = [exp for owner, exp in self._tickets.values() if owner == caller.name]
        self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
        if limit:
            retry = tickets_retry_after(mine, limit, now)
            if retry is not None:
                raise QuotaExceeded(
                    "direct_tickets",
                    f"this token holds {limit} direct-upload tickets not yet completed; "
                    "complete one, or wait until one expires",
                    retry,
                )
        self._tickets[upload_id] = (caller.name, now + ttl)

    def confirm_ticket(self, upload_id: str, expires_at: float) -> None:
        held = self._tickets.get(upload_id)
        if held is not None:
            self._tickets[upload_id] = (held[0], expires_at)

    def drop_ticket(self, upload_id: str) -> None:
        self._tickets.pop(upload_id, None)

    def check_ticket_owner(self, caller: Caller, upload_id: str) -> None:
        """A ticket this replica handed to another token is not this caller's to complete
        (404, as for no ticket). One handed out elsewhere cannot be checked here."""
        held = self._tickets.get(upload_id)
        if held is not None and held[0] != caller.name and not caller.admin:
            raise NotFound(f"no pending direct upload {upload_id!r}")
