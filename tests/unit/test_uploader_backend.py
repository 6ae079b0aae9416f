"""The settings pick the backend; in S3 mode sources and outputs are URIs in one bucket."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from pydantic import ValidationError

from hlsforge_api.errors import StorageError, VerifyFailed
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects
from hlsforge_storage.s3_commit import COMMIT, CommitRecord
from hlsforge_storage.s3_store import S3Store
from hlsforge_storage.s3config import S3ConfigError
from hlsforge_uploader.delivery.from_bucket import S3Delivery
from hlsforge_uploader.errors import NotFound, StorageUnavailable
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.storage.backend import open_backend
from hlsforge_uploader.storage.bucket import S3Storage
from hlsforge_uploader.storage.volume import VolumeStorage

S3_ENV = {
    "HLSFORGE_S3_ENDPOINT": "http://127.0.0.1:9",
    "HLSFORGE_S3_PUBLIC_ENDPOINT": "https://media.example",
    "HLSFORGE_S3_ADDRESSING": "path",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}


def settings(**values: object) -> UploaderSettings:
    return UploaderSettings.model_validate({"tokens": "t", **values})


def test_volume_is_the_default_and_offers_no_direct_upload(tmp_path: Path) -> None:
    backend = open_backend(settings(media_root=tmp_path), {})
    assert isinstance(backend.storage, VolumeStorage)
    assert backend.direct is None
    assert backend.storage.output_location("up-a") == "hls/up-a"


def test_s3_needs_a_bucket() -> None:
    with pytest.raises(ValidationError, match="HLSFORGE_S3_BUCKET"):
        settings(storage="s3")
    with pytest.raises(ValidationError):
        settings(storage="s3", s3_bucket="media", s3_delivery="cdn")
    with pytest.raises(ValidationError):
        settings(storage="s3", s3_bucket="media", s3_part_bytes=1024)


def test_s3_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HLSFORGE_STORAGE", "s3")
    monkeypatch.setenv("HLSFORGE_S3_BUCKET", "media")
    monkeypatch.setenv("HLSFORGE_S3_DELIVERY", "redirect")
    monkeypatch.setenv("HLSFORGE_S3_ENDPOINT", "http://127.0.0.1:9")  # not a settings field
    loaded = UploaderSettings()
    assert (loaded.storage, loaded.s3_bucket, loaded.s3_delivery) == ("s3", "media", "redirect")


def test_s3_locations_are_uris_in_the_bucket() -> None:
    backend = open_backend(settings(storage="s3", s3_bucket="media", uploads_dir="in/"), S3_ENV)
    storage = backend.storage
    assert isinstance(storage, S3Storage) and backend.direct is not None
    assert storage.output_location("up-a") == "s3://media/hls/up-a"
    sink = storage.begin_upload("up-a", "mkv")
    assert sink.location == "s3://media/in/up-a.mkv"
    sink.abort()  # nothing was sent: nothing to do, and no network needed
    assert storage.ours("s3://media/hls/up-a").key == "hls/up-a"
    elsewhere = {
        "s3://other/hls/up-a": "OutsideBucket",
        "hls/up-a": "InvalidLocation",
        "s3://media/../x": "InvalidLocation",
    }
    for location, reason in elsewhere.items():
        with pytest.raises(StorageError) as caught:
            storage.ours(location)
        assert caught.value.reason == reason
        with pytest.raises(StorageError):
            storage.delete(location)  # never an object outside the bucket
        with pytest.raises(NotFound, match="not in this uploader's bucket"):
            storage.deliver(location, "master.m3u8", None)


def test_invalid_s3_variables_fail_at_start() -> None:
    with pytest.raises(S3ConfigError):
        open_backend(
            settings(storage="s3", s3_bucket="media"),
            {**S3_ENV, "HLSFORGE_S3_ADDRESSING": "sideways"},
        )


class OneBucket:
    """The two calls a commit lookup makes (``size``, ``read``), over a dict; ``broken`` makes
    every call fail as the object store would."""

    def __init__(self) -> None:
        self.objects: dict[S3Uri, bytes] = {}
        self.broken = False

    def size(self, uri: S3Uri) -> int | None:
        if self.broken:
            raise ObjectStoreError("ServiceUnavailable", "the store is down")
        return len(self.objects[uri]) if uri in self.objects else None

    def read(self, uri: S3Uri, *, start: int = 0, length: int | None = None) -> bytes:
        return self.objects[uri][start:][:length]


def test_delivery_finds_the_committed_version_through_s3store() -> None:
    bucket = OneBucket()
    store = S3Store(cast(S3Objects, bucket))
    delivery = S3Delivery(store, "proxy")
    output = S3Uri("media", "hls/up-a")
    assert store.committed_root("s3://media/hls/up-a") is None
    with pytest.raises(NotFound, match="not committed"):
        delivery.committed_root(output)
    record = CommitRecord("v1-aa", "0" * 64, "2025-01-01T00:00:00Z")
    bucket.objects[output.child(COMMIT)] = record.render()
    assert store.committed_root("s3://media/hls/up-a") == output.child("v1-aa")
    assert store.committed_root(output) == S3Uri("media", "hls/up-a/v1-aa")
    assert delivery.committed_root(output) == output.child("v1-aa")
    bucket.broken = True
    assert delivery.committed_root(output) == output.child("v1-aa")  # cached: never rewritten
    with pytest.raises(StorageError) as caught:
        store.committed_root(output)
    assert caught.value.reason == "ObjectStoreFailed"
    with pytest.raises(StorageUnavailable, match="cannot read the commit record"):
        delivery.committed_root(output, fresh=True)
    bucket.broken = False
    bucket.objects[output.child(COMMIT)] = b'{"schema": "someone else"}'
    with pytest.raises(VerifyFailed) as invalid:
        store.committed_root(output)
    assert invalid.value.reason == "CommitInvalid"
    with pytest.raises(StorageUnavailable):
        delivery.committed_root(output, fresh=True)
