"""The one byte range honoured when files stream from S3."""

from __future__ import annotations

import pytest

from hlsforge_uploader.delivery.ranges import ByteRange, parse


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=256-511", ByteRange(256, 511)),
        ("bytes=100-", ByteRange(100, None)),
        ("bytes=-500", ByteRange(None, 500)),
        (" bytes = 5 - 9 ", ByteRange(5, 9)),
    ],
)
def test_a_single_range_is_honoured(header: str, expected: ByteRange) -> None:
    assert parse(header) == expected
    assert parse(expected.header()) == expected


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=0-1,5-9", "items=0-9", "bytes=-", "bytes=9-5", "bytes=-0", "bytes=a-b"],
)
def test_anything_else_means_the_whole_file(header: str | None) -> None:
    assert parse(header) is None


def test_the_header_sent_to_s3() -> None:
    assert ByteRange(0, 99).header() == "bytes=0-99"
    assert ByteRange(7, None).header() == "bytes=7-"
    assert ByteRange(None, 3).header() == "bytes=-3"
