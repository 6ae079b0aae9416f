"""The operator's volume store on a real filesystem: the job's work folder, publishing it with
one rename, and what a job may clean."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hlsforge_api.errors import StorageError
from hlsforge_storage.volume_store import VolumeStore
from tests.unit.test_transcoder_verify import GOOD
from tests.unit.test_transcoder_verify import make_output as make_tree


def make_output(root: Path, durations: dict[str, list[float]]) -> None:
    """A verifiable output whose manifest also has what ``status.outputs`` is built from."""
    root.parent.mkdir(parents=True, exist_ok=True)
    make_tree(root, durations)
    manifest = json.loads((root / "manifest.json").read_text())
    for rendition in manifest["renditions"]:
        rendition |= {"width": 640, "height": 360, "bandwidth": 9000}
        rendition |= {"averageBandwidth": 8000, "codecs": "avc1.64001f", "copied": False}
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_prepare_checks_the_source_and_makes_the_work_folder(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    with pytest.raises(StorageError, match="does not exist") as caught:
        store.prepare("uploads/a.mp4", "hls/a", "uid-1")
    assert (caught.value.reason, caught.value.final) == ("SourceMissing", True)
    (tmp_path / "uploads").mkdir()
    os.mkfifo(tmp_path / "uploads" / "fifo.mp4")
    with pytest.raises(StorageError, match="not a regular file") as caught:
        store.prepare("uploads/fifo.mp4", "hls/a", "uid-1")
    assert (caught.value.reason, caught.value.final) == ("InvalidInput", True)
    (tmp_path / "uploads" / "a.mp4").write_bytes(b"x")
    (tmp_path / "uploads" / "link.mp4").symlink_to(tmp_path / "uploads" / "a.mp4")
    with pytest.raises(StorageError, match="symbolic link") as caught:
        store.prepare("uploads/link.mp4", "hls/a", "uid-1")
    assert (caught.value.reason, caught.value.final) == ("InvalidInput", True)
    store.prepare("uploads/a.mp4", "hls/a", "uid-1")
    assert (tmp_path / ".hlsforge" / "work" / "uid-1").is_dir()
    store.prepare("uploads/a.mp4", "hls/a", "uid-1")  # again: idempotent


def test_verify_publishes_the_work_folder_once_then_reads_the_output(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    make_output(tmp_path / ".hlsforge" / "work" / "uid-1" / "out", GOOD)
    outputs = store.verify("hls/show/a", "uid-1")
    assert outputs.master_playlist == "hls/show/a/master.m3u8"
    assert (tmp_path / "hls" / "show" / "a" / "master.m3u8").exists()
    assert not (tmp_path / ".hlsforge" / "work" / "uid-1" / "out").exists()
    # A restarted operator verifies again: the output is read where it now is.
    assert store.verify("hls/show/a", "uid-1") == outputs
    assert store.clean_partial("hls/show/a", "uid-1") == 1
    assert not (tmp_path / ".hlsforge" / "work" / "uid-1").exists()


def test_publishing_never_replaces_an_output(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    make_output(tmp_path / "hls" / "a", GOOD)
    before = (tmp_path / "hls" / "a" / "manifest.json").read_bytes()
    make_output(tmp_path / ".hlsforge" / "work" / "uid-2" / "out", {"x": [4.0, 4.0, 2.0]})
    with pytest.raises(StorageError, match="cannot publish"):
        store.verify("hls/a", "uid-2")
    assert (tmp_path / "hls" / "a" / "manifest.json").read_bytes() == before


def test_a_bad_work_output_is_not_published(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    work = tmp_path / ".hlsforge" / "work" / "uid-1" / "out"
    make_output(work, GOOD)
    (work / "720p" / "seg_00000.ts").write_bytes(b"changed")
    with pytest.raises(StorageError, match=r"checksum|bytes"):
        store.verify("hls/a", "uid-1")
    assert not (tmp_path / "hls" / "a").exists()


def test_clean_partial_takes_only_the_jobs_own_attempts(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    for folder in ("hls/a.tmp-1", "hls/ab.tmp-1", "hls/b", ".hlsforge/work/uid-1/out",
                   ".hlsforge/work/uid-2/out"):  # fmt: skip
        (tmp_path / folder).mkdir(parents=True)
    assert store.clean_partial("hls/a", "uid-1") == 2
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("**/*") if p.is_dir())
    assert "hls/ab.tmp-1" in left and "hls/b" in left and ".hlsforge/work/uid-2" in left
    assert "hls/a.tmp-1" not in left and ".hlsforge/work/uid-1" not in left


def test_a_file_of_an_output_resolves_inside_it_through_no_link(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    out = tmp_path / "hls" / "a"
    (out / "720p").mkdir(parents=True)
    (out / "720p" / "seg_00000.ts").write_bytes(b"x")
    (tmp_path / "hls" / "b").mkdir()
    (tmp_path / "hls" / "b" / "master.m3u8").write_text("#EXTM3U\n")
    assert store.output_file("hls/a", "720p/seg_00000.ts") == out / "720p" / "seg_00000.ts"
    assert store.output_file("hls/a/", "missing.ts") == out / "missing.ts"  # existence: not asked
    (out / "other.m3u8").symlink_to(tmp_path / "hls" / "b" / "master.m3u8")
    (out / "same.ts").symlink_to(out / "720p" / "seg_00000.ts")  # even inside the output
    (tmp_path / "hls" / "c").symlink_to(out)  # an output that is a link
    refused = {
        ("hls/a", "other.m3u8"): "SymbolicLink",
        ("hls/a", "same.ts"): "SymbolicLink",
        ("hls/c", "720p/seg_00000.ts"): "SymbolicLink",
        ("hls/a", "../b/master.m3u8"): "OutsideVolume",
        ("../etc", "passwd.ts"): "OutsideVolume",
        ("hls/a", "/etc/passwd"): "OutsideVolume",
        ("s3://media/hls/a", "master.m3u8"): "OutsideVolume",
    }
    for (output, relative), reason in refused.items():
        with pytest.raises(StorageError) as caught:
            store.output_file(output, relative)
        assert caught.value.reason == reason, (output, relative)
