"""The orphan sweep's half for buckets (``multipart.abort_stale``) on the real S3 server: an
unfinished multipart upload of a streamed upload whose abort never reached the store (fault
row 7.1, S3 down) is aborted once nothing has written to it for the grace; a live one, and a
direct upload's (below ``uploads/direct/``), are left alone."""

from __future__ import annotations

import time

import pytest

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.multipart import MultipartWriter, abort_stale
from hlsforge_storage.s3 import S3Objects
from tests.s3server import S3Server

pytestmark = pytest.mark.media

PART = 5 << 20


def test_only_stale_streamed_uploads_are_aborted(s3_server: S3Server) -> None:
    s3_server.bucket("stale")
    s3: S3Objects = s3_server.objects()
    area = S3Uri("stale", "uploads")
    streamed = MultipartWriter(s3.client, area.child("a.mp4"), PART)
    streamed.write(b"a" * PART)  # one part sent, then the abort never came
    direct = MultipartWriter(s3.client, area.child("direct/b/source.mp4"), PART)
    direct.write(b"b" * PART)

    def open_keys() -> list[str]:
        return sorted(s3_server.open_multipart_uploads("stale"))

    assert open_keys() == ["uploads/a.mp4", "uploads/direct/b/source.mp4"]
    assert abort_stale(s3.client, area, time.time() - 3600) == 0  # written within the grace
    assert open_keys() == ["uploads/a.mp4", "uploads/direct/b/source.mp4"]
    assert abort_stale(s3.client, area, time.time() + 5) == 1
    assert open_keys() == ["uploads/direct/b/source.mp4"]  # the client's, to its own expiry
    direct.abort()
    assert open_keys() == []
