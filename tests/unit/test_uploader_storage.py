"""Volume storage: temp name while writing, no-clobber commit, abort leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlsforge_api.errors import StorageError
from hlsforge_uploader.storage.interface import AlreadyCommitted
from hlsforge_uploader.storage.volume import VolumeStorage


def test_an_upload_is_invisible_until_committed(tmp_path: Path) -> None:
    store = VolumeStorage(tmp_path)
    sink = store.begin_upload("up-abc", "mp4")
    sink.write(b"hello ")
    sink.write(b"world")
    assert not (tmp_path / "uploads" / "up-abc.mp4").exists()
    sink.finish()
    assert sink.probe_input().read_bytes() == b"hello world"
    assert not (tmp_path / "uploads" / "up-abc.mp4").exists()
    assert sink.commit() == "uploads/up-abc.mp4"
    assert (tmp_path / "uploads" / "up-abc.mp4").read_bytes() == b"hello world"
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["up-abc.mp4"]


def test_abort_removes_the_partial_file(tmp_path: Path) -> None:
    sink = VolumeStorage(tmp_path).begin_upload("up-x", "ts")
    sink.write(b"partial")
    sink.abort()
    sink.abort()  # idempotent
    assert list((tmp_path / "uploads").iterdir()) == []


def test_commit_never_replaces_an_existing_upload(tmp_path: Path) -> None:
    store = VolumeStorage(tmp_path)
    first, second = store.begin_upload("up-k1", "mp4"), store.begin_upload("up-k1", "mp4")
    first.write(b"first")
    second.write(b"second")
    first.commit()
    with pytest.raises(AlreadyCommitted):
        second.commit()
    assert (tmp_path / "uploads" / "up-k1.mp4").read_bytes() == b"first"
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["up-k1.mp4"]
    assert store.delete("uploads/up-k1.mp4") is True
    assert store.delete("uploads/up-k1.mp4") is False


def test_locations_follow_the_operators_volume_rule(tmp_path: Path) -> None:
    """The uploader resolves a source as the operator will (``VolumeStore.path``): a link in
    the way is refused before a byte is written, as the operator would refuse that source."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "uploads").symlink_to(tmp_path / "elsewhere")
    store = VolumeStorage(tmp_path)
    with pytest.raises(StorageError) as caught:
        store.begin_upload("up-l", "mp4")
    assert caught.value.reason == "SymbolicLink"
    with pytest.raises(StorageError) as caught:
        store.delete("../outside.mp4")
    assert caught.value.reason == "OutsideVolume"
    assert list((tmp_path / "elsewhere").iterdir()) == []
