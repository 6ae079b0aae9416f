"""Locations are parsed in one place: S3 URIs and volume paths, and what each refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlsforge_storage.locations import (
    LocationError,
    S3Uri,
    check_relative,
    inside,
    parse_s3_uri,
)
from hlsforge_storage.s3config import S3Config, S3ConfigError


def test_s3_uri_round_trip_and_children() -> None:
    uri = parse_s3_uri("s3://media-bucket/hls/abc/")
    assert uri == S3Uri("media-bucket", "hls/abc")
    assert str(uri) == "s3://media-bucket/hls/abc" and uri.prefix == "hls/abc/"
    child = uri.child("720p/index.m3u8")
    assert child.key == "hls/abc/720p/index.m3u8"
    assert child.relative_to(uri) == "720p/index.m3u8"


@pytest.mark.parametrize(
    "bad",
    [
        "s3://Media/key",  # upper case bucket
        "s3://ab/key",  # too short
        "s3://192.168.1.1/key",  # IP-like
        "s3://a..b/key",
        "s3://bucket",  # no key
        "s3://bucket/",
        "s3://bucket/a/../b",
        "s3://bucket/a//b",
        "s3://bucket/./a",
        "s3://bucket/a\\b",
        "s3://bucket/a\nb",
        "http://bucket/key",
        "s3://bucket/" + "k" * 1025,
    ],
)
def test_bad_s3_uris_are_refused(bad: str) -> None:
    with pytest.raises(LocationError):
        parse_s3_uri(bad)


def test_children_cannot_escape() -> None:
    root = S3Uri("media", "hls/a")
    for bad in ("../b", "", "/abs", "x//y"):
        with pytest.raises(LocationError):
            root.child(bad)
    with pytest.raises(LocationError):
        S3Uri("media", "hls/b/x").relative_to(root)


def test_volume_paths_stay_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "hls").mkdir()
    (tmp_path / "hls" / "link").symlink_to("/etc")
    assert inside(tmp_path, "hls/a") == tmp_path.resolve() / "hls" / "a"
    for bad in ("../x", "hls/../../x", "hls/link/passwd", "/etc/passwd", "s3://media/x"):
        with pytest.raises(LocationError):
            inside(tmp_path, bad)
    assert check_relative("uploads/a.mp4/") == "uploads/a.mp4"


def test_s3_config_from_env_and_back() -> None:
    env = {
        "HLSFORGE_S3_ENDPOINT": "http://127.0.0.1:7070/",
        "HLSFORGE_S3_ADDRESSING": "path",
        "AWS_REGION": "eu-central-1",
    }
    config = S3Config.from_env(env)
    assert config.endpoint == "http://127.0.0.1:7070" and config.region == "eu-central-1"
    assert S3Config.from_env(config.to_env()) == config
    assert S3Config.from_env({}).endpoint is None  # AWS itself


@pytest.mark.parametrize(
    "env",
    [
        {"HLSFORGE_S3_ENDPOINT": "ftp://x"},
        {"HLSFORGE_S3_ENDPOINT": "http://host/path"},
        {"HLSFORGE_S3_ADDRESSING": "sideways"},
        {"HLSFORGE_S3_PRESIGN_SECONDS": "10"},
        {"HLSFORGE_S3_PRESIGN_SECONDS": "soon"},
        {"HLSFORGE_S3_SOURCE_ACCESS": "copy"},
    ],
)
def test_bad_s3_config_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(S3ConfigError):
        S3Config.from_env(env)
