"""Named tokens, the caller they resolve to, what a caller sees, and the quota arithmetic:
pure logic, no server, no cluster."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from hlsforge_uploader.auth.callers import OWNER_LABEL, Caller, resolve, valid_name
from hlsforge_uploader.auth.limiter import QuotaBook
from hlsforge_uploader.auth.quotas import (
    SOURCE_BYTES_ANNOTATION,
    Spent,
    TokenQuotas,
    bytes_retry_after,
    spent_of,
    tickets_retry_after,
)
from hlsforge_uploader.auth.stamp import stamp
from hlsforge_uploader.auth.tokens import TokenDirectory, all_entries, parse_entries
from hlsforge_uploader.errors import NotFound, QuotaExceeded, TooLarge
from hlsforge_uploader.jobs.broadcast import Broadcaster

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def job(
    name: str,
    owner: str | None,
    size: int | None = None,
    at: str = "2027-01-15T08:00:00Z",
    uid: str | None = None,
) -> dict[str, Any]:
    labels = {OWNER_LABEL: owner} if owner else {}
    annotations = {SOURCE_BYTES_ANNOTATION: str(size)} if size is not None else {}
    return {
        "metadata": {
            "name": name,
            "uid": uid or f"uid-{name}",
            "labels": labels,
            "annotations": annotations,
            "creationTimestamp": at,
            "resourceVersion": "1",
        }
    }


def test_env_entries_are_named_or_default() -> None:
    assert parse_entries(["bare", "alice=s3cret", " bob = x ", "==weird", "bad name=t", ""]) == [
        ("default", "bare"),
        ("alice", "s3cret"),
        ("bob", "x"),
        ("default", "==weird"),
        ("default", "bad name=t"),
    ]
    assert valid_name("a" * 63) and not valid_name("a" * 64)
    assert not valid_name("-a") and not valid_name("a/b") and valid_name("team.a_1")


def test_resolve_finds_the_name_and_admin_and_refuses_the_rest() -> None:
    entries = [("alice", "ta"), ("bob", "tb"), ("default", "td"), ("carol", "ta")]
    admins = ["default"]
    assert resolve("ta", entries, admins) == Caller("alice")  # the first name wins
    assert resolve("tb", entries, admins) == Caller("bob")
    assert resolve("td", entries, admins) == Caller("default", admin=True)
    for bad in (None, "", "t", "tax", "TA"):
        assert resolve(bad, entries, admins) is None


def test_a_caller_sees_its_own_jobs_and_an_admin_every_job() -> None:
    alice, admin = Caller("alice"), Caller("root", admin=True)
    mine, theirs, kubectl = job("a", "alice"), job("b", "bob"), job("k", None)
    assert alice.owns(mine) and not alice.owns(theirs) and not alice.owns(kubectl)
    assert admin.owns(mine) and admin.owns(theirs) and admin.owns(kubectl)
    assert alice.selector == f"{OWNER_LABEL}=alice" and admin.selector is None


def test_a_token_directory_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("legacy\n")
    (tmp_path / "alice").write_text("ta")
    (tmp_path / ".hidden").write_text("th")
    (tmp_path / "bad name").write_text("tx")
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "huge").write_text("x" * 5000)
    tokens = TokenDirectory(tmp_path)
    assert sorted(tokens.entries()) == [("alice", "ta"), ("default", "legacy")]
    reads = 0
    real = tokens._read

    def counted(signature: Any) -> Any:
        nonlocal reads
        reads += 1
        return real(signature)

    tokens._read = counted  # type: ignore[method-assign]
    tokens.entries()
    assert reads == 0  # unchanged: the cache answers
    (tmp_path / "alice").write_text("rotated-a")  # a different size
    assert ("alice", "rotated-a") in tokens.entries() and reads == 1
    os.utime(tmp_path / "token", ns=(1, 1))  # same size, other mtime
    (tmp_path / "token").write_text("legacz\n")
    os.utime(tmp_path / "token", ns=(2, 2))
    assert ("default", "legacz") in tokens.entries() and reads == 2
    (tmp_path / "alice").unlink()
    assert [n for n, _ in tokens.entries()] == ["default"]


def test_a_kubelet_secret_mount_follows_its_links(tmp_path: Path) -> None:
    """A mounted Secret: keys are links to ``..data/<key>``, ``..data`` a link to a dated
    folder; an update swaps ``..data``."""
    first = tmp_path / "..2027_01_01"
    first.mkdir()
    (first / "bob").write_text("tb1")
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "bob").symlink_to("..data/bob")
    assert all_entries([], None, tmp_path) == [("bob", "tb1")]
    second = tmp_path / "..2027_01_02"
    second.mkdir()
    (second / "bob").write_text("tb2")
    (tmp_path / "..data_tmp").symlink_to(second.name)
    (tmp_path / "..data_tmp").replace(tmp_path / "..data")
    assert all_entries([], None, tmp_path) == [("bob", "tb2")]


def test_what_a_job_spent_is_read_from_its_annotation_and_bounded() -> None:
    assert spent_of(job("a", "alice", 1000)) == Spent(T0, 1000)
    assert spent_of(job("a", "alice")) is None
    assert spent_of(job("a", "alice", 1 << 51)) is None
    bad = job("a", "alice", 5)
    bad["metadata"]["annotations"][SOURCE_BYTES_ANNOTATION] = "-5"
    assert spent_of(bad) is None
    labels, annotations = stamp({"x": "1"}, None, "alice", 42)
    assert labels == {"x": "1", OWNER_LABEL: "alice"}
    assert annotations == {SOURCE_BYTES_ANNOTATION: "42"}


def test_hourly_bytes_fit_or_say_when_they_will() -> None:
    spent = [Spent(T0 - 3000, 400), Spent(T0 - 1000, 300), Spent(T0 - 4000, 999)]  # last: gone
    assert bytes_retry_after(spent, 1000, 300, T0) is None  # 700 + 300
    # 700 + 301: the 400 at T0-3000 must leave, at T0+600.
    assert bytes_retry_after(spent, 1000, 301, T0) == 600
    # 700 + 800: both must leave; the later at T0+2600.
    assert bytes_retry_after(spent, 1000, 800, T0) == 2600
    assert bytes_retry_after([Spent(T0, 1000)], 1000, 1, T0) == 3600


def test_tickets_fit_or_say_when_one_expires() -> None:
    assert tickets_retry_after([T0 + 10, T0 - 5], 2, T0) is None
    assert tickets_retry_after([T0 + 10, T0 + 70, T0 + 30], 3, T0) == 10
    assert tickets_retry_after([T0 + 10, T0 + 70, T0 + 30], 2, T0) == 30
    assert tickets_retry_after([T0 + 10, T0 + 70, T0 + 30], 1, T0) == 70


def test_concurrent_uploads_per_token() -> None:
    book = QuotaBook(TokenQuotas(concurrent_uploads=2, busy_retry_seconds=7), tuple)
    alice, bob = Caller("alice"), Caller("bob")
    with book.upload(alice, 10, T0), book.upload(alice, None, T0):
        with pytest.raises(QuotaExceeded) as refused, book.upload(alice, 10, T0):
            pass
        assert refused.value.status == 429 and refused.value.headers() == {"Retry-After": "7"}
        assert refused.value.body()["quota"] == "concurrent_uploads"
        with book.upload(bob, 10, T0):
            pass
    with book.upload(alice, 10, T0):  # the slots were given back
        pass


def test_hourly_bytes_count_live_deleted_and_flying_uploads() -> None:
    live = [job("a", "alice", 400, uid="u1"), job("b", "bob", 900, uid="u2"), job("k", None, 900)]
    book = QuotaBook(TokenQuotas(bytes_per_hour=1000), lambda: live)
    alice = Caller("alice")
    with book.upload(alice, 600, T0):
        pass
    with pytest.raises(QuotaExceeded) as refused, book.upload(alice, 601, T0):
        pass
    assert refused.value.retry_after == 3600 and refused.value.body()["quota"] == "bytes_per_hour"
    with pytest.raises(TooLarge), book.upload(alice, 1001, T0):
        pass
    # Deleting the job does not give its bytes back (the watch's DELETED feeds the ledger).
    gone = live.pop(0)
    book.record("DELETED", gone)
    with pytest.raises(QuotaExceeded), book.upload(alice, 601, T0):
        pass
    with book.upload(alice, 600, T0 + 3600):  # an hour later it left the window
        pass
    # An upload in flight counts with its declared size.
    later = T0 + 3600
    with (
        book.upload(alice, 500, later),
        pytest.raises(QuotaExceeded),
        book.upload(alice, 501, later),
    ):
        pass


def test_tickets_per_token_are_counted_until_completed_or_expired() -> None:
    book = QuotaBook(TokenQuotas(direct_tickets=2), tuple)
    alice, bob, admin = Caller("alice"), Caller("bob"), Caller("root", admin=True)
    book.reserve_ticket(alice, "t1", T0, 3600)
    book.confirm_ticket("t1", T0 + 60)
    book.reserve_ticket(alice, "t2", T0, 3600)
    with pytest.raises(QuotaExceeded) as refused:
        book.reserve_ticket(alice, "t3", T0, 3600)
    assert refused.value.retry_after == 60
    book.reserve_ticket(bob, "t4", T0, 3600)
    book.drop_ticket("t2")
    book.reserve_ticket(alice, "t3", T0, 3600)
    book.reserve_ticket(alice, "t5", T0 + 61, 3600)  # t1 expired
    with pytest.raises(NotFound):
        book.check_ticket_owner(bob, "t3")
    book.check_ticket_owner(alice, "t3")
    book.check_ticket_owner(admin, "t3")
    book.check_ticket_owner(bob, "unknown-here")
    unlimited = QuotaBook(TokenQuotas(), tuple)
    for n in range(100):
        unlimited.reserve_ticket(alice, f"u{n}", T0, 3600)


def test_a_subscriber_gets_only_the_changes_of_jobs_it_sees() -> None:
    async def go() -> list[str]:
        b = Broadcaster()
        b.bind(asyncio.get_running_loop())
        b._snapshot([job("a1", "alice"), job("b1", "bob")], "5")
        alice = Caller("alice")
        sub, missed = b.subscribe(None, "5", alice.owns)
        assert missed == []
        for name, owner, rv in (("b2", "bob", "6"), ("a2", "alice", "7"), ("k", None, "8")):
            obj = job(name, owner)
            obj["metadata"]["resourceVersion"] = rv
            b._change("ADDED", obj)
        got = []
        while not sub.queue.empty():
            change = sub.queue.get_nowait()
            assert change is not None
            got.append(str(change.name))
        _, replay = b.subscribe(None, "5", alice.owns)
        assert [c.name for c in replay or []] == ["a2"]
        return got

    assert asyncio.run(go()) == ["a2"]


def test_a_job_this_process_created_counts_before_the_watch_brings_it() -> None:
    book = QuotaBook(TokenQuotas(bytes_per_hour=1000), tuple)
    alice = Caller("alice")
    book.created(job("a", "alice", 900, uid="u1"))
    with pytest.raises(QuotaExceeded), book.upload(alice, 101, T0):
        pass
    book.created(job("k", None, 900, uid="u2"))  # no owner: nobody's quota
    with book.upload(Caller("bob"), 1000, T0):
        pass
