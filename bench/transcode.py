"""Overhead of ``hlsforge transcode`` over the bare ffmpeg command for the same ladder.

Generates a 1080p30 30 s H.264/AAC clip with temporal noise (so it is not trivially
compressible; GOP 2 s and ~4.5 Mb/s so it also fits the 1080p rung for the copy path), then,
in the same run and alternating to share the machine's noise fairly:

- bare:      the ffmpeg argv the engine builds for the same plan, without ``-progress``, with
             ffmpeg's own ``-master_pl_name`` (what one would type by hand), 4 rungs re-encoded;
- hlsforge:  ``hlsforge transcode --json --no-copy --no-poster`` (sniff, probe, keyframe read,
             encode, progress parsing, master/manifest, SHA-256, verify, fsync, rename);
- copy:      ``hlsforge transcode --json --no-poster`` (1080p packaged without re-encoding).

Prints wall times (best of ``--repeat``), the ratio hlsforge/bare (goal <= 1.05), the
real-time factor and the copy-path speed-up. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import runtime_limits
from hlsforge_media.media_input import local_input
from hlsforge_transcoder.ffmpeg_args import build_args
from hlsforge_transcoder.run import inspect

DURATION = 30
LIMITS = runtime_limits()  # exactly what hlsforge transcode uses


def make_clip(path: Path, seconds: int) -> None:
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-v", "error", "-y"),
            *("-f", "lavfi", "-t", str(seconds), "-i", "testsrc2=size=1920x1080:rate=30"),
            *("-f", "lavfi", "-t", str(seconds), "-i", "sine=frequency=440:sample_rate=48000"),
            *("-vf", "noise=alls=6:allf=t", "-c:v", "libx264", "-preset", "veryfast"),
            *("-b:v", "4500k", "-maxrate", "5000k", "-bufsize", "10000k", "-pix_fmt", "yuv420p"),
            *("-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k"),
            str(path),
        ],
        check=True,
    )


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed_json(argv: list[str]) -> tuple[float, dict[str, float]]:
    """Wall time of an ``hlsforge transcode --json`` run and the engine's own timings."""
    start = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    last = json.loads(done.stdout.splitlines()[-1])
    return wall, {**last["timings"], "wall": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant (best kept)")
    parser.add_argument("--seconds", type=int, default=DURATION)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hlsforge-bench-"))
    try:
        src = work / "clip.mp4"
        t0 = time.perf_counter()
        make_clip(src, args.seconds)
        print(
            f"source: 1920x1080 30 fps {args.seconds} s with noise, made in "
            f"{time.perf_counter() - t0:.1f} s ({src.stat().st_size / 1e6:.1f} MB)"
        )

        settings = EncodingSettings.model_validate(
            {"video": {"allowCopy": False}, "thumbnails": {"poster": False}}
        )
        probe, plan = inspect(src, settings, LIMITS)
        print("ladder: " + ", ".join(r.resolution for r in plan.renditions))
        cli = [sys.executable, "-m", "hlsforge_cli.main", "transcode", str(src)]
        runs: dict[str, list[float]] = {"bare": [], "hlsforge": [], "copy": []}
        breakdown: list[dict[str, float]] = []
        for attempt in range(args.repeat):
            bare_dir = work / f"bare{attempt}"
            bare_dir.mkdir()
            argv = build_args(
                plan,
                source=local_input(src),
                demuxer=probe.demuxer,
                out_dir=str(bare_dir),
                limits=LIMITS,
            )
            at = argv.index("-progress")
            argv = argv[:at] + argv[at + 2 :]
            argv[-1:-1] = ["-master_pl_name", "master.m3u8"]
            runs["bare"].append(timed(argv))
            out = work / f"hls{attempt}"
            wall, timing = timed_json([*cli, str(out), "--json", "--no-copy", "--no-poster"])
            runs["hlsforge"].append(wall)
            breakdown.append(timing)
            copied = work / f"copy{attempt}"
            runs["copy"].append(timed_json([*cli, str(copied), "--json", "--no-poster"])[0])
            manifest = json.loads((copied / "manifest.json").read_text())
            assert manifest["renditions"][0]["copied"], "copy path not taken"
            for path in (bare_dir, out, copied):
                shutil.rmtree(path)
        best = {name: min(times) for name, times in runs.items()}
        for name, times in runs.items():
            print(
                f"{name:>9}: best {best[name]:6.2f} s   runs " + " ".join(f"{t:.2f}" for t in times)
            )
        print(f"ratio hlsforge/bare: {best['hlsforge'] / best['bare']:.3f}  (goal <= 1.05)")
        # The machine is shared: run-to-run noise can exceed the overhead. The engine's own
        # timings split each hlsforge run into ffmpeg's wall time and everything else.
        for t in breakdown:
            extra = t["wall"] - t["encode"]
            print(
                f"  hlsforge run: ffmpeg {t['encode']:.2f} s + inspect {t['inspect']:.2f} s + "
                f"finalize {t['finalize']:.2f} s + start-up {t['wall'] - t['total']:.2f} s "
                f"-> wall/ffmpeg {t['wall'] / t['encode']:.3f} ({extra:.2f} s outside ffmpeg)"
            )
        print(
            f"real-time factor: {args.seconds / best['hlsforge']:.2f}x (4 rungs re-encoded), "
            f"{args.seconds / best['copy']:.2f}x (1080p copied)"
        )
        print(f"copy-path speed-up: {best['hlsforge'] / best['copy']:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
