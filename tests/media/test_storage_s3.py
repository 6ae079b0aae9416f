"""The storage layer on a real S3-compatible server: streamed multipart uploads, conditional
writes, checksums, and the operator's S3 store (verify, delete source, clean, delete output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlsforge_api.errors import StorageError
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.media_store import Stores
from hlsforge_storage.multipart import AlreadyExists, MultipartWriter
from hlsforge_storage.s3 import ObjectStoreError, S3Objects
from hlsforge_storage.s3_store import S3Store
from hlsforge_storage.volume_store import VolumeStore
from hlsforge_transcoder.dispatch import run_job
from tests.media.conftest import Clips
from tests.s3server import S3Server

pytestmark = pytest.mark.media

MIB = 1 << 20


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Objects:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    s3_server.bucket("store")
    return s3_server.objects()


def parts_sent(s3: S3Objects, writer: MultipartWriter) -> int:
    assert writer.upload_id is not None
    answer = s3.client.list_parts(
        Bucket=writer.uri.bucket, Key=writer.uri.key, UploadId=writer.upload_id
    )
    return len(answer.get("Parts", []))


def test_multipart_sends_parts_as_data_arrives_and_completes_once(
    s3: S3Objects, s3_server: S3Server
) -> None:
    uri = S3Uri("store", "uploads/stream.bin")
    writer = MultipartWriter(s3.client, uri, part_size=5 * MIB)
    writer.write(b"a" * (3 * MIB))
    assert writer.upload_id is None  # nothing sent below one part
    writer.write(b"b" * (3 * MIB))
    assert parts_sent(s3, writer) == 1  # the first part left before the body ended
    writer.write(b"c" * 100)
    writer.complete()
    assert s3.size(uri) == 6 * MIB + 100
    assert s3.read(uri, start=3 * MIB - 1, length=2) == b"ab"
    assert s3_server.open_multipart_uploads("store") == []

    again = MultipartWriter(s3.client, uri, part_size=5 * MIB)
    again.write(b"other")
    with pytest.raises(AlreadyExists):
        again.complete()  # never replaces what is there
    assert s3.size(uri) == 6 * MIB + 100
    assert s3_server.open_multipart_uploads("store") == []


def test_abort_leaves_no_multipart_upload_and_no_object(s3: S3Objects, s3_server: S3Server) -> None:
    uri = S3Uri("store", "uploads/aborted.bin")
    writer = MultipartWriter(s3.client, uri, part_size=5 * MIB)
    writer.write(b"x" * (11 * MIB))
    assert parts_sent(s3, writer) == 2
    assert "uploads/aborted.bin" in s3_server.open_multipart_uploads("store")
    writer.abort()
    writer.abort()  # idempotent
    assert s3_server.open_multipart_uploads("store") == []
    assert s3.size(uri) is None


def test_conditional_put_and_checksum_refusal(s3: S3Objects) -> None:
    uri = S3Uri("store", "k/one.txt")
    assert s3.put(uri, b"first", if_none_match=True)
    assert not s3.put(uri, b"second", if_none_match=True)
    assert s3.read(uri) == b"first"
    wrong = "00" * 32
    with pytest.raises(ObjectStoreError) as raised:
        s3.put(S3Uri("store", "k/two.txt"), b"data", sha256_hex=wrong)
    assert raised.value.code in {"BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"}
    assert s3.size(S3Uri("store", "k/two.txt")) is None
    assert s3.delete(uri) and not s3.delete(uri)


def test_operator_store_on_s3(s3: S3Objects, clips: Clips) -> None:
    settings = EncodingSettings.model_validate(
        {"renditions": [{"name": "180p", "height": 180, "videoBitrateKbps": 300}]}
    )
    source = S3Uri("store", "uploads/op.mp4")
    s3.put(source, clips("fits_360p.mp4"))
    output = S3Uri("store", "hls/op")
    stores = Stores(None, lambda: S3Store(s3))
    with pytest.raises(StorageError, match="no committed output"):
        stores.verify(str(output), "uid")
    run_job(str(source), str(output), settings)
    s3.put(output.child("v20000101T000000Z-dead0000/180p/seg.ts"), b"a dead attempt")

    outputs = stores.verify(str(output), "uid")
    assert outputs.master_playlist.startswith("s3://store/hls/op/v")
    assert outputs.master_playlist.endswith("/master.m3u8")
    assert [r.name for r in outputs.renditions] == ["180p"]
    assert stores.clean_partial(str(output), "uid") == 1
    assert stores.verify(str(output), "uid").master_playlist == outputs.master_playlist

    assert stores.delete_source(str(source)) is True
    assert stores.delete_source(str(source)) is False  # idempotent
    assert stores.delete_output(str(output), "uid") is True
    assert list(s3.listing(output)) == []
    with pytest.raises(StorageError, match="no volume"):
        stores.verify("hls/op", "uid")


def test_stores_send_volume_paths_to_the_volume(tmp_path: Path) -> None:
    def no_s3() -> S3Store:
        raise ValueError("HLSFORGE_S3_* settings are invalid")

    stores = Stores(VolumeStore(tmp_path), no_s3)
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "a.mp4").write_bytes(b"x")
    assert stores.delete_source("uploads/a.mp4") is True
    with pytest.raises(StorageError, match="S3 is not configured"):
        stores.delete_source("s3://store/uploads/a.mp4")
