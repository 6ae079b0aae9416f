"""The real engine on generated clips, read back by ffmpeg and by the ``m3u8`` package."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import m3u8
import pytest

from hlsforge_api.errors import InvalidInput
from hlsforge_media.limits import Limits
from hlsforge_media.probe import run_probe
from hlsforge_output.verify import verify_dir

from .conftest import (
    Clips,
    Run,
    cli,
    decode_errors,
    engine_argv,
    first_video_packet,
    leftovers,
    run_json,
    tree_bytes,
)

pytestmark = pytest.mark.media


def check_output(out: Path, scratch: Path, *, source_duration: float) -> dict[str, Any]:
    """Everything a player and our contract require of a finished output."""
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    master = m3u8.load(str(out / "master.m3u8"))
    assert master.is_variant
    assert len(master.playlists) == len(manifest["renditions"])
    starts: list[list[float]] = []
    for index, (variant, rendition) in enumerate(
        zip(master.playlists, manifest["renditions"], strict=True)
    ):
        info = variant.stream_info
        assert info.bandwidth >= info.average_bandwidth > 0
        assert info.resolution == (rendition["width"], rendition["height"])
        assert info.frame_rate and info.frame_rate > 0
        assert info.codecs.startswith(("avc1.", "hvc1."))
        media = m3u8.load(str(out / variant.uri))
        assert media.is_endlist and media.playlist_type == "vod"
        assert len(media.segments) == rendition["segmentCount"]
        total = sum(s.duration for s in media.segments)
        assert abs(total - source_duration) <= media.target_duration
        folder = (out / variant.uri).parent
        init = folder / media.segment_map[0].uri if media.segment_map else None
        variant_starts = []
        for segment in media.segments:
            pts, flags = first_video_packet(folder / segment.uri, init, scratch)
            assert flags.startswith("K"), f"{variant.uri} {segment.uri} starts without keyframe"
            variant_starts.append(pts)
        starts.append(variant_starts)
        assert decode_errors(out / "master.m3u8", f"0:v:{index}") == ""
    counts = {len(s) for s in starts}
    assert len(counts) == 1, f"segment counts differ: {counts}"
    for other in starts[1:]:
        assert other == pytest.approx(starts[0], abs=0.02), "segments not aligned"
    if any("mp4a" in r["codecs"] for r in manifest["renditions"]):
        assert decode_errors(out / "master.m3u8", "0:a") == ""
    verify_dir(out, source_duration=source_duration)
    return manifest


def assert_progress(run: Run) -> None:
    percents = [e["percent"] for e in run.of("progress")]
    assert percents, "no progress events"
    assert percents == sorted(percents)
    assert percents[-1] == 100.0
    assert all(0 <= p <= 100 for p in percents)


def test_ladder_720p_via_cli(clips: Clips, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = cli(clips("ladder_720p.mp4"), out)
    assert run.returncode == 0, run.events[-1:]
    assert_progress(run)
    done = run.last("done")
    assert done["committed"] is True
    assert [r["resolution"] for r in done["outputs"]["renditions"]] == [
        "1280x720",
        "854x480",
        "640x360",
    ]
    manifest = check_output(out, tmp_path, source_duration=5.0)
    assert not any(r["copied"] for r in manifest["renditions"])
    assert manifest["poster"] == "poster.jpg" and (out / "poster.jpg").stat().st_size > 1000
    assert all(r["codecs"].endswith("mp4a.40.2") for r in manifest["renditions"])
    assert leftovers(out) == []


def test_copy_path_fmp4(clips: Clips, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = cli(clips("fits_360p.mp4"), out, "--segment-format", "fmp4", "--segment-duration", "2")
    assert run.returncode == 0, run.events[-1:]
    manifest = check_output(out, tmp_path, source_duration=6.0)
    (rendition,) = manifest["renditions"]
    # ultrafast x264 writes Constrained Baseline: the CODECS entry is read from the init segment
    assert rendition["copied"] is True and rendition["codecs"].startswith("avc1.42c0")
    assert rendition["segmentCount"] == math.ceil(manifest["source"]["duration"] / 2)
    assert_progress(run)


def test_hevc_fmp4_explicit_ladder(clips: Clips, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = cli(
        clips("fits_360p.mp4"),
        out,
        *("--codec", "h265", "--segment-format", "fmp4", "--segment-duration", "2"),
        *("--preset", "ultrafast", "--rendition", "a:360:600", "--rendition", "b:240:300"),
        *("--rendition", "up:720:2000"),
    )
    assert run.returncode == 0, run.events[-1:]
    manifest = check_output(out, tmp_path, source_duration=6.0)
    assert [(r["name"], r["width"], r["height"]) for r in manifest["renditions"]] == [
        ("a", 640, 360),
        ("b", 426, 240),
    ]
    assert all(r["codecs"].startswith("hvc1.1.6.L") for r in manifest["renditions"])
    assert any("up" in note and "upscale" in note for note in manifest["notes"])


def test_copy_refused_when_asked(clips: Clips, tmp_path: Path) -> None:
    run = cli(clips("fits_360p.mp4"), tmp_path / "out", "--no-copy", "--no-poster")
    assert run.returncode == 0
    assert run.last("done")["outputs"]["renditions"][0]["copied"] is False
    assert not (tmp_path / "out" / "poster.jpg").exists()


@pytest.mark.parametrize(
    ("clip", "resolution", "duration", "audio"),
    [
        ("odd_318x178.mp4", "318x178", 4.0, True),
        ("no_audio.mkv", "480x270", 4.0, False),
        ("rotated.mp4", "270x480", 4.0, False),
        ("vfr.mp4", "320x240", 3.93, False),
    ],
)
def test_awkward_sources(
    clips: Clips, tmp_path: Path, clip: str, resolution: str, duration: float, audio: bool
) -> None:
    out = tmp_path / "out"
    run = cli(clips(clip), out, "--segment-duration", "2", "--sprite")
    assert run.returncode == 0, run.events[-1:]
    manifest = check_output(out, tmp_path, source_duration=duration)
    (rendition,) = manifest["renditions"]
    assert f"{rendition['width']}x{rendition['height']}" == resolution
    assert ("mp4a" in rendition["codecs"]) is audio
    assert (out / "sprite.jpg").exists() and "sprite.jpg#xywh=" in (out / "sprite.vtt").read_text()
    if clip == "vfr.mp4":
        assert rendition["frameRate"] == 15.0


@pytest.mark.parametrize(
    ("clip", "reason"),
    [
        ("zero.mp4", "EmptyFile"),
        ("notes.mp4", "TextFile"),
        ("local.m3u8", "Playlist"),
        ("concat.mp4", "Playlist"),
        ("audio_only.m4a", "NoVideoStream"),
        ("truncated.mp4", "ProbeFailed"),
        ("truncated.mkv", "SourceTruncated"),
        ("huge_8192x64.mkv", "DimensionsTooLarge"),
        ("tiny_8x8.mkv", "DimensionsTooSmall"),
        ("polyglot.mp4", "ProbeFailed"),
    ],
)
def test_refused_inputs(clips: Clips, tmp_path: Path, clip: str, reason: str) -> None:
    out = tmp_path / "out"
    run = cli(clips(clip), out)
    assert run.returncode == 3, run.events
    error = run.last("error")
    assert (error["reason"], error["category"], error["exit_code"]) == (reason, "InvalidInput", 3)
    assert error["message"]
    assert not out.exists() and leftovers(out) == []


def test_probe_alone_refuses_a_playlist_even_without_sniffing(clips: Clips) -> None:
    with pytest.raises(InvalidInput) as caught:
        run_probe(clips("local.m3u8"), Limits())
    assert caught.value.reason == "ProbeFailed"
    assert "passwd" not in caught.value.message


def test_second_run_leaves_committed_output_byte_identical(clips: Clips, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli(clips("odd_318x178.mp4"), out).returncode == 0
    before = tree_bytes(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = cli(clips("odd_318x178.mp4"), out)
    assert again.returncode == 0 and again.last("done")["committed"] is False
    assert again.of("progress") == []  # nothing was encoded again
    assert tree_bytes(out) == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes


def test_concurrent_duplicates_one_commit_both_succeed(clips: Clips, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = engine_argv(clips("odd_318x178.mp4"), out, {"video": {"preset": "ultrafast"}}, tmp_path)
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    done = [json.loads(r.splitlines()[-1]) for r in results]
    assert sorted(d["committed"] for d in done) == [False, True]
    verify_dir(out)
    assert leftovers(out) == []


def test_occupied_destination_is_never_touched(clips: Clips, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "someone-elses.txt").write_text("keep me")
    run = cli(clips("odd_318x178.mp4"), out)
    assert run.returncode == 4
    assert run.last("error")["reason"] == "DestinationOccupied"
    assert tree_bytes(out) == {"someone-elses.txt": b"keep me"}


def test_entrypoint_rejects_bad_settings(clips: Clips, tmp_path: Path) -> None:
    argv = engine_argv(clips("odd_318x178.mp4"), tmp_path / "o", {"segmentDuration": 0}, tmp_path)
    run = run_json(argv)
    assert run.returncode == 2
    assert run.last("error")["category"] == "InvalidConfiguration"
    assert sys.executable  # the engine ran under this interpreter
