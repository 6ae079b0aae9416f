"""Claims on a real filesystem and a real S3-compatible server: who owns which location."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hlsforge_storage.areas import Areas
from hlsforge_storage.claim_spaces import BucketSpace, ClaimError, Space, VolumeSpace
from hlsforge_storage.claims import ClaimConflictError, Owner, Ownership
from tests.s3server import S3Server

pytestmark = pytest.mark.media

A = Owner("ns", "a", "uid-a")
B = Owner("ns", "b", "uid-b")


@dataclass
class Store:
    """One backend: the ownership under test, a way to lay media, and the location syntax."""

    ownership: Ownership
    space: Space
    location: Callable[[str], str]

    def put(self, key: str, data: bytes = b"x") -> None:
        assert self.space.create(key, data)


@pytest.fixture(params=["volume", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "volume":
        space: Space = VolumeSpace(tmp_path)
        ownership = Ownership(Areas(), space, lambda _: pytest.fail("no bucket here"))
        yield Store(ownership, space, lambda key: key)
        return
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = f"claims-{abs(hash(request.node.name)) % 10**8}"
    server.bucket(bucket)
    space = BucketSpace(server.objects(), bucket)
    areas = Areas(buckets=frozenset({bucket}))
    yield Store(Ownership(areas, None, lambda _: space), space, lambda k: f"s3://{bucket}/{k}")


def test_an_output_is_claimed_once_and_the_owner_may_claim_again(store: Store) -> None:
    out = store.location("hls/a")
    store.ownership.claim_output(out, A)
    store.ownership.claim_output(out, A)  # a restarted operator asks again: still ours
    with pytest.raises(ClaimConflictError, match="claimed by TranscodeJob ns/a") as caught:
        store.ownership.claim_output(out, B)
    assert caught.value.reason == "OutputConflict"
    assert store.ownership.owned_by(out, A) and not store.ownership.owned_by(out, B)


def test_an_output_inside_another_jobs_output_is_refused(store: Store) -> None:
    store.ownership.claim_output(store.location("hls/show"), A)
    with pytest.raises(ClaimConflictError, match="lies inside 'hls/show', the output of"):
        store.ownership.claim_output(store.location("hls/show/ep1"), B)


def test_an_output_above_another_jobs_output_is_refused(store: Store) -> None:
    store.ownership.claim_output(store.location("hls/show/ep1"), A)
    with pytest.raises(ClaimConflictError, match=r"lies above another job's output \(hls/show"):
        store.ownership.claim_output(store.location("hls/show"), B)
    # A name that merely starts the same way is another folder.
    store.ownership.claim_output(store.location("hls/sho"), B)
    store.ownership.claim_output(store.location("hls/show-2"), B)


def test_media_nobody_claimed_is_never_adopted(store: Store) -> None:
    store.put("hls/old/manifest.json")  # an output published before claims existed
    with pytest.raises(ClaimConflictError, match="already holds media"):
        store.ownership.claim_output(store.location("hls/old"), A)
    with pytest.raises(ClaimConflictError, match="holds a published output"):
        store.ownership.claim_output(store.location("hls/old/inner"), A)
    store.put("hls/parent/child/seg.ts")
    with pytest.raises(ClaimConflictError, match="already holds media"):
        store.ownership.claim_output(store.location("hls/parent"), A)


def test_a_source_belongs_to_one_job_until_released(store: Store) -> None:
    src = store.location("uploads/a.mp4")
    store.ownership.claim_source(src, A)
    with pytest.raises(ClaimConflictError, match="claimed by TranscodeJob ns/a") as caught:
        store.ownership.claim_source(src, B)
    assert caught.value.reason == "SourceConflict"
    assert not store.ownership.release(src, B), "another owner's claim must stay"
    assert store.ownership.owned_by(src, A)
    assert store.ownership.release(src, A)
    store.ownership.claim_source(src, B)
    assert store.ownership.owned_by(src, B)


def test_released_output_can_be_claimed_by_the_next_job(store: Store) -> None:
    out = store.location("hls/a")
    store.ownership.claim_output(out, A)
    assert store.ownership.release(out, A)
    store.ownership.claim_output(out, B)
    assert store.ownership.record(out) is not None
    record = store.ownership.record(out)
    assert record is not None and record.owner == B and record.kind == "output"


def test_racing_claims_on_one_output_have_one_winner(store: Store) -> None:
    out = store.location("hls/race")
    owners = [Owner("ns", f"j{i}", f"uid-{i}") for i in range(8)]
    won: list[Owner] = []
    lost: list[str] = []
    start = threading.Barrier(len(owners))

    def claim(owner: Owner) -> None:
        start.wait()
        try:
            store.ownership.claim_output(out, owner)
            won.append(owner)
        except (ClaimConflictError, ClaimError) as exc:
            lost.append(str(exc))

    threads = [threading.Thread(target=claim, args=(o,)) for o in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(won) == 1, (won, lost)
    assert len(lost) == len(owners) - 1
    assert store.ownership.owned_by(out, won[0])


def test_a_damaged_record_is_an_error_not_a_free_location(store: Store) -> None:
    store.put(".hlsforge/claims/hls/a.claim.json", b"{not json")
    with pytest.raises(ClaimError, match="damaged"):
        store.ownership.claim_output(store.location("hls/a"), A)


def test_volume_claims_never_follow_a_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "root"
    (root / ".hlsforge").mkdir(parents=True)
    (root / ".hlsforge" / "claims").symlink_to(elsewhere)
    ownership = Ownership(Areas(), VolumeSpace(root), lambda _: pytest.fail("no bucket"))
    with pytest.raises(ClaimError, match="symbolic link"):
        ownership.claim_output("hls/a", A)
    assert list(elsewhere.iterdir()) == []
    # A record that is itself a link (say to /dev/zero) is refused, never read.
    (root / ".hlsforge" / "claims").unlink()
    (root / ".hlsforge" / "claims" / "hls").mkdir(parents=True)
    (root / ".hlsforge" / "claims" / "hls" / "b.claim.json").symlink_to("/dev/zero")
    with pytest.raises(ClaimError, match="symbolic link"):
        ownership.claim_output("hls/b", A)


def test_a_source_reserved_for_a_job_name_is_adopted_by_that_job_only(store: Store) -> None:
    src = store.location("uploads/u1.mp4")
    store.ownership.reserve_source(src, "ns", "a")  # the uploader, before it creates "a"
    with pytest.raises(ClaimConflictError, match="claimed by TranscodeJob ns/a") as caught:
        store.ownership.claim_source(src, B)  # another job racing the operator's first look
    assert caught.value.reason == "SourceConflict"
    assert not store.ownership.owned_by(src, B)
    store.ownership.claim_source(src, A)  # the job "a" itself: adopted with its UID
    record = store.ownership.record(src)
    assert record is not None and record.owner == A
    with pytest.raises(ClaimConflictError):
        store.ownership.reserve_source(src, "ns", "a")  # a reservation never overrides a UID
    assert store.ownership.release(src, A) and store.ownership.record(src) is None


def test_a_reservation_is_released_by_the_uploader_or_by_the_job_it_names(store: Store) -> None:
    src = store.location("uploads/u2.mp4")
    store.ownership.reserve_source(src, "ns", "a")
    assert not store.ownership.release(src, B)  # another job's release leaves it alone
    assert store.ownership.release(src, A)  # "a" deleted before the operator adopted it
    assert store.ownership.record(src) is None
    store.ownership.reserve_source(src, "ns", "a")
    assert store.ownership.release(src, Owner("ns", "a", ""))  # the uploader's own cleanup
    assert store.ownership.record(src) is None
