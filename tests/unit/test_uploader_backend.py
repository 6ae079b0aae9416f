"""The settings pick the backend; in S3 mode sources and outputs are URIs in one bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hlsforge_storage.s3config import S3ConfigError
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.storage.backend import open_backend
from hlsforge_uploader.storage.bucket import S3Storage
from hlsforge_uploader.storage.interface import OutsideRoot
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
    for elsewhere in ("s3://other/hls/up-a", "hls/up-a", "s3://media/../x"):
        with pytest.raises(OutsideRoot):
            storage.ours(elsewhere)


def test_invalid_s3_variables_fail_at_start() -> None:
    with pytest.raises(S3ConfigError):
        open_backend(
            settings(storage="s3", s3_bucket="media"),
            {**S3_ENV, "HLSFORGE_S3_ADDRESSING": "sideways"},
        )
