"""Direct uploads: where a pending one lives, what it records, how a copy is cut in parts."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from hlsforge_storage.locations import S3Uri
from hlsforge_uploader.storage.bucket_copy import COPY_PART, part_ranges
from hlsforge_uploader.uploads.direct_record import DirectKeys, PendingUpload


def test_a_pending_upload_keeps_its_file_and_record_in_one_folder() -> None:
    keys = DirectKeys("media", "uploads", "up-abc")
    assert keys.folder == S3Uri("media", "uploads/direct/up-abc")
    assert keys.staged == S3Uri("media", "uploads/direct/up-abc/source")
    assert keys.record == S3Uri("media", "uploads/direct/up-abc/request.json")
    # The job's source is named exactly as for a streamed upload.
    assert keys.source("mp4") == S3Uri("media", "uploads/up-abc.mp4")


def test_the_record_round_trips_and_refuses_anything_else() -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = PendingUpload("up-abc", {"priority": 5, "sourcePolicy": "Retain"}, expires)
    assert PendingUpload.parse(record.render()) == record
    for bad in (
        b"{}",
        b"[]",
        b'{"schema": "other"}',
        b'{"schema": "hlsforge.io/direct-upload/v1"}',
    ):
        with pytest.raises(ValueError):
            PendingUpload.parse(bad)


@pytest.mark.parametrize("size", [1, 1000, COPY_PART, COPY_PART + 1, 20 * 1024**3 + 7])
def test_copy_parts_cover_every_byte_once(size: int) -> None:
    parts = part_ranges(size)
    assert parts[0][0] == 0 and parts[-1][1] == size - 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(parts))
    assert all(last - first + 1 >= 5 << 20 for first, last in parts[:-1])
    assert len(parts) <= 10_000


def test_a_huge_copy_grows_its_parts_to_stay_within_10000() -> None:
    parts = part_ranges(6 * 1024**4, part=5 << 20)
    assert len(parts) <= 10_000


def test_a_pending_upload_keeps_its_declared_size() -> None:
    expires = datetime(2026, 1, 1, tzinfo=UTC)
    sized = PendingUpload("up-abc", {}, expires, 1234)
    assert PendingUpload.parse(sized.render()) == sized
    assert PendingUpload.parse(PendingUpload("up-abc", {}, expires).render()).size is None
    for bad in (0, -1, 1 << 50, "12", 1.5, True):
        text = sized.render().replace(b'"size": 1234', f'"size": {json.dumps(bad)}'.encode())
        with pytest.raises(ValueError, match="size"):
            PendingUpload.parse(text)
