"""What the engine accepts and how much it may spend: one place, one dataclass.

The container allow-list is given to every ffprobe/ffmpeg call as ``-format_whitelist``; nested
demuxers inherit it, so an HLS playlist hidden inside an AVI cannot be opened. Names are demuxer
names as ffmpeg matches them (``mov`` covers mp4/m4a/3gp, ``matroska`` covers webm).
"""

from __future__ import annotations

from dataclasses import dataclass

ALLOWED_DEMUXERS: tuple[str, ...] = ("mov", "matroska", "webm", "mpegts", "avi", "flv")
"""Real audio/video containers. Never ``hls``, ``concat``, ``image2``, ``*_pipe`` or ``tty``."""

PROTOCOLS_PROBE = "file"
PROTOCOLS_ENCODE = "file"
"""Inputs only: ``-progress pipe:1`` is a global option and needs no input protocol."""


@dataclass(frozen=True)
class Limits:
    """Bounds on inputs and on the resources one transcode may use."""

    max_width: int = 7680
    max_height: int = 7680
    max_pixels: int = 7680 * 4320
    """Per frame, either orientation; also passed to the decoder as ``-max_pixels``."""
    min_side: int = 16
    max_duration_s: float = 6 * 3600.0
    min_duration_s: float = 0.2
    max_fps: float = 240.0
    max_output_fps: float = 60.0
    """Sources above this are converted to half their rate (or less) for the ladder."""
    max_alloc_bytes: int = 1 << 30
    """ffmpeg ``-max_alloc``: the largest single allocation (an 8K 4:4:4 16-bit frame fits)."""
    probe_timeout_s: float = 30.0
    stall_timeout_s: float = 60.0
    """No ``out_time`` advance for this long kills ffmpeg (exit STALLED)."""
    stale_attempt_age_s: float = 3600.0
    """Work directories of earlier attempts untouched for this long are removed."""
    threads: int = 0
    """ffmpeg ``-threads``; 0 lets ffmpeg pick from the CPU count (the pod's CPU limit bounds)."""
    output_bytes_factor: float = 4.0
    """The output may not exceed this many times the size the ladder's peak bitrates predict."""

    @property
    def allowed_demuxers(self) -> str:
        return ",".join(ALLOWED_DEMUXERS)


DEFAULT_LIMITS = Limits()
