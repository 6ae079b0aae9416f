from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hlsforge_api.errors import VerifyFailed
from hlsforge_output.hls import Variant, render_master
from hlsforge_output.manifest import MANIFEST
from hlsforge_output.verify import verify_dir
from hlsforge_transcoder.manifest_build import hash_tree


def media(durations: list[float]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for index, duration in enumerate(durations):
        lines += [f"#EXTINF:{duration:.6f},", f"seg_{index:05d}.ts"]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def make_output(root: Path, durations: dict[str, list[float]], source: float = 10.0) -> None:
    root.mkdir()
    variants = []
    for name, segs in durations.items():
        (root / name).mkdir()
        (root / name / "index.m3u8").write_text(media(segs))
        for index in range(len(segs)):
            (root / name / f"seg_{index:05d}.ts").write_bytes(bytes([index]) * 1000)
        variants.append(Variant(f"{name}/index.m3u8", 9000, 8000, "avc1.64001f", 640, 360, 30.0))
    (root / "master.m3u8").write_text(render_master(variants, version=6))
    write_manifest(root, durations, source)


def write_manifest(root: Path, durations: dict[str, list[float]], source: float) -> None:
    manifest = {
        "master": "master.m3u8",
        "durationSeconds": source,
        "renditions": [
            {"name": n, "playlist": f"{n}/index.m3u8", "segmentCount": len(s)}
            for n, s in durations.items()
        ],
        "files": hash_tree(root),
    }
    (root / MANIFEST).write_text(json.dumps(manifest))


GOOD = {"720p": [4.0, 4.0, 2.0], "360p": [4.0, 4.0, 2.0]}


def test_a_whole_output_verifies(tmp_path: Path) -> None:
    root = tmp_path / "out"
    make_output(root, GOOD)
    manifest = verify_dir(root)
    assert [r["name"] for r in manifest["renditions"]] == ["720p", "360p"]
    assert verify_dir(root, source_duration=12.5, checksums=False)["master"] == "master.m3u8"


def corrupt_segment(root: Path) -> None:
    (root / "360p" / "seg_00001.ts").write_bytes(b"\x01" * 999 + b"\x02")


def remove_segment(root: Path) -> None:
    (root / "720p" / "seg_00002.ts").unlink()


def add_stray_file(root: Path) -> None:
    (root / "720p" / "seg_00003.ts.tmp").write_bytes(b"partial")


def drop_attribute(root: Path) -> None:
    text = (root / "master.m3u8").read_text().replace(",FRAME-RATE=30.000", "")
    (root / "master.m3u8").write_text(text)
    write_manifest(root, GOOD, 10.0)


def open_playlist(root: Path) -> None:
    path = root / "360p" / "index.m3u8"
    path.write_text(path.read_text().replace("#EXT-X-ENDLIST\n", ""))
    write_manifest(root, GOOD, 10.0)


def lose_poster(root: Path) -> None:
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["poster"] = "poster.jpg"
    (root / MANIFEST).write_text(json.dumps(manifest))


def remove_manifest(root: Path) -> None:
    (root / MANIFEST).unlink()


def garble_manifest(root: Path) -> None:
    (root / MANIFEST).write_text("{not json")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (corrupt_segment, "ChecksumMismatch"),
        (remove_segment, "FilesMismatch"),
        (add_stray_file, "FilesMismatch"),
        (drop_attribute, "MasterIncomplete"),
        (open_playlist, "PlaylistOpen"),
        (lose_poster, "ThumbnailMissing"),
        (remove_manifest, "ManifestMissing"),
        (garble_manifest, "ManifestInvalid"),
    ],
)
def test_damage_is_detected(tmp_path: Path, damage: Callable[[Path], Any], reason: str) -> None:
    root = tmp_path / "out"
    make_output(root, GOOD)
    damage(root)
    with pytest.raises(VerifyFailed) as caught:
        verify_dir(root)
    assert caught.value.reason == reason
    assert caught.value.exit_code == 6


def test_duration_must_match_the_source_within_one_segment(tmp_path: Path) -> None:
    root = tmp_path / "out"
    make_output(root, GOOD, source=10.0)
    verify_dir(root, source_duration=13.9)
    with pytest.raises(VerifyFailed) as caught:
        verify_dir(root, source_duration=14.5)
    assert caught.value.reason == "DurationMismatch"


def test_unaligned_segment_counts_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "out"
    make_output(root, {"720p": [4.0, 4.0, 2.0], "360p": [4.0, 6.0]})
    with pytest.raises(VerifyFailed) as caught:
        verify_dir(root)
    assert caught.value.reason == "SegmentsNotAligned"


def test_manifest_segment_count_must_match_playlist(tmp_path: Path) -> None:
    root = tmp_path / "out"
    make_output(root, GOOD)
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["renditions"][0]["segmentCount"] = 4
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(VerifyFailed) as caught:
        verify_dir(root)
    assert caught.value.reason == "SegmentCountMismatch"


def _verify_in_thread(root: Path, **kwargs: Any) -> BaseException | None:
    """Run verify_dir where a hang would show: the answer must come, and be a refusal."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            verify_dir(root, **kwargs)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert outcome, "verify_dir hung on an untrusted tree"
    return outcome[0]


def test_a_symlinked_segment_is_refused_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.ts"
    victim.write_bytes(b"\x47" * 1000)
    root = tmp_path / "out"
    make_output(root, GOOD)
    segment = root / "720p" / "seg_00000.ts"
    segment.unlink()
    segment.symlink_to(victim)
    write_manifest(root, GOOD, 10.0)  # a manifest that agrees with the link's target
    error = _verify_in_thread(root)
    assert isinstance(error, VerifyFailed) and "symbolic link" in str(error), error


@pytest.mark.parametrize("special", ["fifo", "dev-zero", "manifest-link"])
def test_special_files_in_an_output_fail_verify_without_hanging(
    tmp_path: Path, special: str
) -> None:
    root = tmp_path / "out"
    make_output(root, GOOD)
    if special == "fifo":
        os.mkfifo(root / "720p" / "extra.ts")
    elif special == "dev-zero":
        (root / "720p" / "seg_00001.ts").unlink()
        (root / "720p" / "seg_00001.ts").symlink_to("/dev/zero")
    else:
        (root / MANIFEST).unlink()
        (root / MANIFEST).symlink_to("/dev/zero")
    error = _verify_in_thread(root)
    assert isinstance(error, VerifyFailed), error


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    root = tmp_path / "out"
    make_output(root, GOOD)
    with (root / "720p" / "seg_00002.ts").open("r+b") as handle:
        handle.truncate(50 * 10**9)  # sparse: 50 GB on paper, nothing on disk
    error = _verify_in_thread(root)
    assert isinstance(error, VerifyFailed) and "more than" in str(error), error
    small = tmp_path / "small"
    make_output(small, GOOD)
    error = _verify_in_thread(small, max_bytes=5_000)
    assert isinstance(error, VerifyFailed) and "more than 5000 bytes" in str(error), error
