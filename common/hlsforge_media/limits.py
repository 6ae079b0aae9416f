"""What the engine accepts and how much it may spend: one place, one dataclass.

The container allow-list is given to every ffprobe/ffmpeg call as ``-format_whitelist``; nested
demuxers inherit it, so an HLS playlist hidden inside an AVI cannot be opened. Names are demuxer
names as ffmpeg matches them (``mov`` covers mp4/m4a/3gp, ``matroska`` covers webm).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

ALLOWED_DEMUXERS: tuple[str, ...] = ("mov", "matroska", "webm", "mpegts", "avi", "flv")
"""Real audio/video containers. Never ``hls``, ``concat``, ``image2``, ``*_pipe`` or ``tty``."""


@dataclass(frozen=True)
class Limits:
    """Bounds on inputs and on the resources one transcode may use."""

    max_width: int = 7680
    max_height: int = 7680
    max_pixels: int = 7680 * 4320
    """Per frame, either orientation; also passed to the decoder as ``-max_pixels``."""
    min_side: int = 16
    """Both limits on a side apply to the coded size and to the displayed one (pixel aspect
    and rotation applied), so every rendition, poster and tile is bounded by them too."""
    max_sample_aspect: int = 10
    """A sample (pixel) aspect ratio outside 1:N..N:1 is refused (real anamorphic video is
    within 1:2..2:1; beyond that the file is broken or hostile)."""
    max_streams: int = 64
    """A file declaring more streams (of any kind) is refused before anything is planned."""
    max_duration_s: float = 6 * 3600.0
    min_duration_s: float = 0.2
    max_fps: float = 240.0
    min_fps: float = 0.1
    """Average frame rate below this (one frame in ten seconds) is refused."""
    max_output_fps: float = 60.0
    """Sources above this are converted to half their rate (or less) for the ladder."""
    max_alloc_bytes: int = 1 << 30
    """ffmpeg ``-max_alloc``: the largest single allocation (an 8K 4:4:4 16-bit frame fits)."""
    max_sprite_pixels: int = 64 * 1024 * 1024
    """The sprite sheet is one frame: its area is capped (thumbnails are spaced further apart
    to fit), so the ``tile`` filter never asks for more than ``max_alloc_bytes``."""
    probe_timeout_s: float = 30.0
    max_probe_output_bytes: int = 32 * 1024 * 1024
    """What one ffprobe may print (its JSON, or the packet list of a 6 h 60 fps source):
    beyond it ffprobe is killed; the probe is refused (``ProbeOutputTooLarge``), a keyframe
    list is treated as unknown (the top rendition is then re-encoded)."""
    run_deadline_s: float = 24 * 3600.0
    """Wall-clock limit on the whole run (probe, planning, ffmpeg, manifest, verify, publish);
    the entrypoint's watchdog then kills it with exit ``STALLED`` (reason ``RunDeadline``)."""
    stall_timeout_s: float = 60.0
    """No ``out_time`` advance for this long kills ffmpeg (exit STALLED)."""
    stale_attempt_age_s: float = 3600.0
    """Work directories of earlier attempts untouched for this long are removed."""
    threads: int = 0
    """ffmpeg ``-threads`` for the decoder and every encoder; 0 lets ffmpeg pick from the
    machine's CPU count. ``runtime_limits`` sets it from the CPUs this process may really use."""
    output_bytes_factor: float = 4.0
    """The output may not exceed this many times the size the ladder's peak bitrates predict."""

    @property
    def allowed_demuxers(self) -> str:
        return ",".join(ALLOWED_DEMUXERS)


DEFAULT_LIMITS = Limits()


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def parse_cpu_max(text: str) -> float | None:
    """CPUs allowed by cgroup v2 ``cpu.max``: ``200000 100000`` -> 2.0, ``max 100000`` -> None."""
    quota, _, period = text.strip().partition(" ")
    try:
        cpus = int(quota) / int(period or "100000")
    except (ValueError, ZeroDivisionError):
        return None
    return cpus if cpus > 0 else None


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity mask, capped by the cgroup's CPU limit.

    ffmpeg and x264 size their thread pools from the machine's CPU count, which in a pod with a
    CPU limit on a large node means dozens of threads per encoder, throttling and memory waste.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = cpus or 1
    try:
        quota = parse_cpu_max(cpu_max.read_text())
    except OSError:
        quota = None
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return count


def runtime_limits(base: Limits = DEFAULT_LIMITS) -> Limits:
    """``base`` with ``threads`` set from ``available_cpus`` (what the engine runs with)."""
    return replace(base, threads=base.threads or available_cpus())
