"""Pure-ish parts of the shells: stale attempt sweeping (tmp_path only) and CLI settings."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest

from hlsforge_cli.transcode import add_parser, settings_from_args
from hlsforge_media.limits import Limits, available_cpus, parse_cpu_max, runtime_limits
from hlsforge_media.proc import (
    STDERR_TAIL_BYTES,
    ToolOutputTooLargeError,
    ToolTimeoutError,
    run_bounded,
)
from hlsforge_storage.volume_commit import sweep_stale_attempts


def test_sweep_removes_only_old_work_dirs(tmp_path: Path) -> None:
    dest = tmp_path / "video"
    dest.mkdir()
    (dest / "master.m3u8").write_text("#EXTM3U\n")
    old = tmp_path / "video.tmp-dead"
    (old / "720p").mkdir(parents=True)
    (old / "720p" / "seg_00000.ts").write_bytes(b"x")
    live = tmp_path / "video.tmp-live"
    live.mkdir()
    (live / "seg.ts").write_bytes(b"y")
    other = tmp_path / "other.tmp-dead"
    other.mkdir()
    past = time.time() - 7200
    for path in (old, old / "720p", old / "720p" / "seg_00000.ts", other):
        os.utime(path, (past, past))
    # a dir whose own mtime is old but which holds a fresh file is alive
    os.utime(live, (past, past))
    assert sweep_stale_attempts(dest, 3600) == [old]
    assert not old.exists() and live.exists() and other.exists()
    assert (dest / "master.m3u8").exists()
    assert sweep_stale_attempts(dest, 3600) == []


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["transcode", "in.mp4", "out", *argv])


def test_cli_options_become_encoding_settings() -> None:
    settings = settings_from_args(
        parse(
            *("--segment-duration", "6", "--segment-format", "fmp4", "--codec", "h265"),
            *("--rendition", "720p:720:2800", "--rendition", "low:360:700"),
            *("--no-audio", "--no-copy", "--no-poster", "--sprite", "--preset", "fast"),
        )
    )
    assert settings.segment_duration == 6 and settings.segment_format.value == "fmp4"
    assert settings.video.codec.value == "h265" and settings.video.preset == "fast"
    assert not settings.video.allow_copy and settings.audio.codec == "none"
    assert not settings.thumbnails.poster and settings.thumbnails.sprite is not None
    assert settings.renditions is not None
    assert [(r.name, r.height, r.video_bitrate_kbps) for r in settings.renditions] == [
        ("720p", 720, 2800),
        ("low", 360, 700),
    ]
    defaults = settings_from_args(parse())
    assert defaults.renditions is None and defaults.video.allow_copy


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--rendition", "720p"), "NAME:HEIGHT:KBPS"),
        (("--rendition", "720p:721:2800"), "multiple of 2"),
        (("--codec", "h265"), "fmp4"),
        (("--segment-duration", "0"), "segmentDuration"),
        (("--preset", "warp"), "preset"),
    ],
)
def test_cli_refuses_bad_options_with_a_readable_message(
    argv: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_args(parse(*argv))


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("200000 100000\n", 2.0), ("150000 100000", 1.5), ("max 100000\n", None), ("junk", None)],
)
def test_parse_cpu_max(text: str, cpus: float | None) -> None:
    assert parse_cpu_max(text) == cpus


def test_available_cpus_is_capped_by_the_cgroup_limit(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("50000 100000\n")
    assert available_cpus(cpu_max) == 1
    cpu_max.write_text("max 100000\n")
    assert available_cpus(cpu_max) == len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path / "absent") == len(os.sched_getaffinity(0))
    assert runtime_limits().threads >= 1
    assert runtime_limits(Limits(threads=7)).threads == 7


def test_sweep_handles_names_with_glob_characters(tmp_path: Path) -> None:
    dest = tmp_path / "clip[1]*"
    dead = tmp_path / "clip[1]*.tmp-x"
    dead.mkdir()
    past = time.time() - 7200
    os.utime(dead, (past, past))
    assert sweep_stale_attempts(dest, 3600) == [dead]


def test_children_never_inherit_our_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg/ffprobe parse untrusted media: a key in our environment must not be in theirs."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    done = run_bounded(["sh", "-c", "cat /proc/self/environ | tr '\\0' '\\n'"], 10)
    assert done.returncode == 0
    names = {line.split("=", 1)[0] for line in done.stdout.splitlines() if line}
    assert "do-not-leak" not in done.stdout
    assert names <= {"PATH", "LC_ALL", "PWD", "SHLVL", "_"}, names


def test_a_capped_run_kills_a_child_that_prints_without_end(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with pytest.raises(ToolOutputTooLargeError, match="more than 100000 bytes"):
        run_bounded(["sh", "-c", f"echo $$ > {pidfile}; exec yes"], 30, max_output_bytes=100_000)
    assert not Path(f"/proc/{pidfile.read_text().strip()}/cmdline").exists()  # reaped and gone


def test_a_capped_run_keeps_only_the_end_of_stderr_and_honours_its_deadline() -> None:
    script = "head -c 1000000 /dev/zero | tr '\\0' x >&2; printf '\\nlast\\n' >&2; echo out"
    done = run_bounded(["sh", "-c", script], 30, max_output_bytes=10)
    assert (done.returncode, done.stdout) == (0, "out\n")
    assert len(done.stderr) == STDERR_TAIL_BYTES and done.stderr.endswith("xxx\nlast\n")
    with pytest.raises(ToolTimeoutError):
        run_bounded(["sleep", "30"], 0.3, max_output_bytes=10)
