"""The upload core: cap while streaming, sniff before storing, batches, fingerprint."""

from __future__ import annotations

import hashlib

import pytest

from hlsforge_uploader.errors import InvalidMedia, TooLarge
from hlsforge_uploader.uploads.body import Ingest, has_room

MP4_HEAD = b"\x00\x00\x00\x20ftypisom" + b"\x00" * 2000


def test_nothing_is_released_before_the_head_is_sniffed() -> None:
    ingest = Ingest(limit=10_000, buffer_bytes=64 * 1024)
    assert ingest.feed(MP4_HEAD[:500]) == []
    before = ingest.ready_to_store
    ingest.feed(MP4_HEAD[500:])
    assert (before, ingest.ready_to_store) == (False, True)
    assert ingest.extension == "mp4"


def test_a_playlist_is_refused_at_the_first_kilobyte() -> None:
    ingest = Ingest(limit=10_000_000)
    with pytest.raises(InvalidMedia) as err:
        ingest.feed(b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n" + b"#" * 2000)
    assert err.value.reason == "Playlist"
    assert err.value.status == 422


def test_a_short_text_file_is_refused_when_the_body_ends() -> None:
    ingest = Ingest(limit=10_000)
    assert ingest.feed(b"meeting notes\n") == []
    with pytest.raises(InvalidMedia) as err:
        ingest.finish()
    assert err.value.reason == "TextFile"


def test_an_empty_body_is_refused() -> None:
    with pytest.raises(InvalidMedia) as err:
        Ingest(limit=10).finish()
    assert err.value.reason == "EmptyFile"


def test_the_cap_is_enforced_on_the_chunk_that_crosses_it() -> None:
    ingest = Ingest(limit=4096, buffer_bytes=64 * 1024)
    ingest.feed(MP4_HEAD)
    ingest.feed(b"\x00" * (4096 - len(MP4_HEAD)))  # exactly at the cap: fine
    with pytest.raises(TooLarge) as err:
        ingest.feed(b"\x00")
    assert err.value.status == 413
    assert err.value.body()["limit"] == 4096


def test_batches_are_bounded_and_lose_nothing() -> None:
    ingest = Ingest(limit=10**9, buffer_bytes=64 * 1024)
    chunks = [MP4_HEAD] + [bytes([i % 256]) * 10_000 for i in range(40)]
    out: list[bytes] = []
    for chunk in chunks:
        out += ingest.feed(chunk)
    out += ingest.finish()
    assert all(len(b) < 64 * 1024 + 10_000 for b in out)
    assert b"".join(out) == b"".join(chunks)
    assert ingest.received == sum(map(len, chunks))
    assert ingest.digest() == hashlib.sha256(b"".join(chunks)).hexdigest()


@pytest.mark.parametrize(
    ("free", "declared", "reserve", "room"),
    [
        (None, 10**12, 10**9, True),  # S3: no size to fill
        (10_000, 5_000, 5_000, True),
        (10_000, 5_001, 5_000, False),
        (10_000, None, 10_000, True),  # chunked: only the reserve is checked up front
        (9_999, None, 10_000, False),
    ],
)
def test_an_upload_must_leave_the_reserve(
    free: int | None, declared: int | None, reserve: int, room: bool
) -> None:
    assert has_room(free, declared, reserve) is room
