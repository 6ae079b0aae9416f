"""Test clips generated at test time with ffmpeg's lavfi sources (nothing binary is committed),
and helpers that run the real engine and read its output back like a client would.

Clips are made once per session, lazily, and kept small (<= 1280x720, <= 6 s) because the
machine is shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FFMPEG = ["ffmpeg", "-nostdin", "-v", "error", "-y"]


def _video(size: str, seconds: float, rate: int = 30) -> list[str]:
    return ["-f", "lavfi", "-t", str(seconds), "-i", f"testsrc2=size={size}:rate={rate}"]


def _audio(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]


X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "64k"]


def _make(path: Path, *argv: str) -> None:
    subprocess.run([*FFMPEG, *argv, str(path)], check=True, timeout=120)


def _truncate(src: Path, dest: Path, fraction: float) -> None:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])


RECIPES: dict[str, Callable[[Path, Callable[[str], Path]], object]] = {
    # H.264/AAC 640x360, GOP 2 s, modest bitrate: fits the 360p rung -> copy path.
    "fits_360p.mp4": lambda p, _c: _make(
        p,
        *_video("640x360", 6),
        *_audio(6),
        *X264,
        "-g",
        "60",
        "-b:v",
        "600k",
        "-maxrate",
        "800k",
        "-bufsize",
        "1600k",
        *AAC,
        "-shortest",
    ),
    # 720p, GOP 1.5 s (not on 4 s boundaries): full 3-rung ladder, re-encoded.
    "ladder_720p.mp4": lambda p, _c: _make(
        p, *_video("1280x720", 5), *_audio(5), *X264, "-g", "45", *AAC, "-shortest"
    ),
    "odd_318x178.mp4": lambda p, _c: _make(
        p, *_video("318x178", 4), *_audio(4), *X264, *AAC, "-shortest"
    ),
    "no_audio.mkv": lambda p, _c: _make(p, *_video("480x270", 4), *X264),
    "audio_only.m4a": lambda p, _c: _make(p, *_audio(3), *AAC),
    "rotated_src.mp4": lambda p, _c: _make(p, *_video("480x270", 4), *X264),
    "rotated.mp4": lambda p, c: _make(
        p, "-i", str(c("rotated_src.mp4")), "-c", "copy", "-metadata:s:v:0", "rotate=90"
    ),
    "vfr.mp4": lambda p, _c: _make(
        p,
        *_video("320x240", 4),
        "-vf",
        "select='not(mod(n\\,3))+lt(n\\,30)'",
        "-fps_mode",
        "vfr",
        *X264,
    ),
    "long_360p.mkv": lambda p, _c: _make(
        p, *_video("640x360", 20), *_audio(20), *X264, *AAC, "-shortest"
    ),
    "whole.mkv": lambda p, _c: _make(p, *_video("320x240", 6), *_audio(6), *X264, *AAC),
    "truncated.mkv": lambda p, c: _truncate(c("whole.mkv"), p, 0.1),
    "truncated.mp4": lambda p, c: _truncate(c("odd_318x178.mp4"), p, 0.5),
    "huge_8192x64.mkv": lambda p, _c: _make(p, *_video("8192x64", 1, rate=10), *X264),
    "tiny_8x8.mkv": lambda p, _c: _make(p, *_video("8x8", 1, rate=10), "-c:v", "ffv1"),
    # starts like MP4 (sniff accepts it) but is a playlist: the mov demuxer must refuse it
    "polyglot.mp4": lambda p, _c: p.write_bytes(
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\n"
        b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    ),
    "zero.mp4": lambda p, _c: p.write_bytes(b""),
    "notes.mp4": lambda p, _c: p.write_text("this is not a video, just some text\n" * 40),
    "local.m3u8": lambda p, c: p.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{c('fits_360p.mp4')}\n"
        "#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    ),
    "concat.mp4": lambda p, c: p.write_text(
        f"ffconcat version 1.0\nfile '{c('fits_360p.mp4')}'\nfile '/etc/passwd'\n"
    ),
}


class Clips:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, name: str) -> Path:
        path = self.root / name
        if not path.exists():
            RECIPES[name](path, self)
        return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    return Clips(tmp_path_factory.mktemp("clips"))


@dataclass
class Run:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    def last(self, kind: str) -> dict[str, Any]:
        return [e for e in self.events if e["event"] == kind][-1]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def run_json(argv: list[str], timeout: float = 240) -> Run:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return Run(done.returncode, events, done.stderr)


def cli(src: Path, dest: Path, *options: str) -> Run:
    """``hlsforge transcode --json`` as a user would run it."""
    argv = [sys.executable, "-m", "hlsforge_cli.main", "transcode", str(src), str(dest)]
    return run_json([*argv, "--json", *options])


def engine_argv(src: Path, dest: Path, settings: dict[str, Any], tmp: Path) -> list[str]:
    path = tmp / f"settings-{abs(hash(json.dumps(settings, sort_keys=True)))}.json"
    path.write_text(json.dumps(settings))
    return [
        sys.executable,
        "-m",
        "hlsforge_transcoder",
        "--settings",
        str(path),
        str(src),
        str(dest),
    ]


def leftovers(dest: Path) -> list[str]:
    """Work directories of attempts next to ``dest``."""
    return sorted(p.name for p in dest.parent.glob(f"{dest.name}.tmp-*"))


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def first_video_packet(segment: Path, init: Path | None, scratch: Path) -> tuple[float, str]:
    """(pts_time, flags) of the first video packet, in file order, of an HLS segment."""
    target, fmt = segment, "mpegts"
    if init is not None:
        target, fmt = scratch / "probe.mp4", "mov"
        target.write_bytes(init.read_bytes() + segment.read_bytes())
    argv = ["ffprobe", "-v", "error", "-protocol_whitelist", "file", "-format_whitelist", fmt]
    argv += ["-f", fmt, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"]
    argv += ["-read_intervals", "%+#1", "-of", "csv=p=0", "-i", f"file:{target}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
    pts, flags = out.splitlines()[0].split(",")[:2]
    return float(pts), flags


def decode_errors(master: Path, selector: str) -> str:
    """stderr of a client decoding one part of the output (empty means it played cleanly)."""
    done = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(master),
            "-map",
            selector,
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stderr.strip() or ("" if done.returncode == 0 else f"exit {done.returncode}")
