"""Probe an untrusted file with ffprobe, under the same allow-lists as the encode.

``run_probe`` is the only I/O here; ``parse`` (ffprobe JSON -> ``ProbeResult``) and ``validate``
(``ProbeResult`` + ``Limits`` -> accepted or ``InvalidInput``) are pure and unit-tested.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from hlsforge_api.errors import InvalidInput, StorageError
from hlsforge_media.limits import ALLOWED_DEMUXERS, Limits
from hlsforge_media.media_input import MediaInput, as_input, local_input
from hlsforge_media.proc import Completed, ToolTimeoutError, run_bounded

Runner = Callable[[list[str], float], Completed]
"""Runs an argv with a deadline (``proc.run_bounded``'s contract: raises ``ToolTimeoutError``
or ``OSError``); a caller may confine the child further (the uploader's probe sandbox)."""


@dataclass(frozen=True)
class VideoStream:
    codec: str
    width: int
    height: int
    fps: Fraction
    """Average frame rate (``avg_frame_rate``, falling back to ``r_frame_rate``)."""
    r_fps: Fraction
    """ffprobe's guess of the base rate; differs from ``fps`` for variable-frame-rate sources."""
    sar: Fraction = Fraction(1)
    rotation: int = 0
    """Clockwise display rotation in degrees, normalised to 0/90/180/270."""
    profile: str | None = None
    level: int | None = None
    pix_fmt: str | None = None
    bit_rate: int | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: pixel aspect applied, rotation applied."""
        width = max(1, round(self.width * self.sar))
        if self.rotation in (90, 270):
            return self.height, width
        return width, self.height

    @property
    def variable_frame_rate(self) -> bool:
        return self.r_fps != self.fps


@dataclass(frozen=True)
class AudioStream:
    codec: str
    channels: int
    sample_rate: int | None = None


@dataclass(frozen=True)
class ProbeResult:
    format_name: str
    """ffprobe's ``format_name``, e.g. ``mov,mp4,m4a,3gp,3g2,mj2``."""
    duration: float | None
    video: VideoStream | None
    audio: AudioStream | None
    size_bytes: int | None = None
    bit_rate: int | None = None
    keyframes: tuple[float, ...] | None = None
    """Video keyframe times relative to the first video packet, when they were read."""

    @property
    def demuxer(self) -> str:
        """The name to pass to ``-f``: the first of ``format_name``."""
        return self.format_name.split(",")[0]

    def summary(self) -> dict[str, object]:
        video = self.video
        return {
            "format": self.demuxer,
            "duration": self.duration,
            "video": None
            if video is None
            else {
                "codec": video.codec,
                "width": video.width,
                "height": video.height,
                "displayWidth": video.display_size[0],
                "displayHeight": video.display_size[1],
                "fps": round(float(video.fps), 3),
                "variableFrameRate": video.variable_frame_rate,
                "rotation": video.rotation,
                "profile": video.profile,
                "pixFmt": video.pix_fmt,
            },
            "audio": None
            if self.audio is None
            else {"codec": self.audio.codec, "channels": self.audio.channels},
        }


def _fraction(value: object) -> Fraction:
    """``30000/1001`` (rates) or ``4:3`` (aspect ratios); 0 when absent or invalid."""
    try:
        num, _, den = str(value).replace(":", "/").partition("/")
        frac = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)
    return frac if frac > 0 else Fraction(0)


def _float(value: object) -> float | None:
    try:
        result = float(str(value))
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _rotation(stream: dict[str, Any]) -> int:
    degrees: float | None = None
    for side in stream.get("side_data_list") or []:
        if isinstance(side, dict) and "rotation" in side:
            degrees = _float(side["rotation"])
    if degrees is None:
        degrees = _float((stream.get("tags") or {}).get("rotate", 0))
    return (round((degrees or 0.0) / 90) * 90) % 360


def parse(ffprobe_json: str) -> ProbeResult:
    """Turn ``ffprobe -show_format -show_streams -of json`` output into a ``ProbeResult``.

    The first real video stream is used (cover art, ``attached_pic``, is not video) and the
    first audio stream. Missing or malformed numbers become ``None``/0, never an exception.
    """
    data = json.loads(ffprobe_json)
    fmt = data.get("format") or {}
    video: VideoStream | None = None
    audio: AudioStream | None = None
    for stream in data.get("streams") or []:
        kind = stream.get("codec_type")
        if kind == "video" and video is None:
            if (stream.get("disposition") or {}).get("attached_pic") == 1:
                continue
            avg = _fraction(stream.get("avg_frame_rate"))
            base = _fraction(stream.get("r_frame_rate"))
            sar = _fraction(stream.get("sample_aspect_ratio")) or Fraction(1)
            video = VideoStream(
                codec=str(stream.get("codec_name", "unknown")),
                width=_int(stream.get("width")) or 0,
                height=_int(stream.get("height")) or 0,
                fps=avg or base,
                r_fps=base or avg,
                sar=sar,
                rotation=_rotation(stream),
                profile=stream.get("profile"),
                level=_int(stream.get("level")),
                pix_fmt=stream.get("pix_fmt"),
                bit_rate=_int(stream.get("bit_rate")),
            )
        elif kind == "audio" and audio is None:
            audio = AudioStream(
                codec=str(stream.get("codec_name", "unknown")),
                channels=_int(stream.get("channels")) or 0,
                sample_rate=_int(stream.get("sample_rate")),
            )
    duration = _float(fmt.get("duration"))
    return ProbeResult(
        format_name=str(fmt.get("format_name", "")),
        duration=duration if duration and duration > 0 else None,
        video=video,
        audio=audio,
        size_bytes=_int(fmt.get("size")),
        bit_rate=_int(fmt.get("bit_rate")),
    )


def parse_keyframes(csv_text: str) -> tuple[float, ...]:
    """Keyframe times from ``-show_entries packet=pts_time,flags -of csv=p=0``, from zero."""
    first: float | None = None
    keys: list[float] = []
    for line in csv_text.splitlines():
        pts_text, _, flags = line.partition(",")
        pts = _float(pts_text)
        if pts is None:
            continue
        first = pts if first is None else min(first, pts)
        if flags.startswith("K"):
            keys.append(pts)
    if first is None:
        return ()
    return tuple(sorted(round(k - first, 6) for k in keys))


def validate(probe: ProbeResult, limits: Limits, sniffed: str | None = None) -> ProbeResult:
    """Accept the probe or raise ``InvalidInput`` with the reason a user can act on."""
    names = set(probe.format_name.split(","))
    if not names & set(ALLOWED_DEMUXERS):
        raise InvalidInput(
            "UnsupportedContainer", f"container {probe.format_name or 'unknown'!r} is not accepted"
        )
    if sniffed is not None and sniffed not in names:
        raise InvalidInput(
            "ContainerMismatch",
            f"the file starts like {sniffed} but ffprobe reads it as {probe.format_name}",
        )
    video = probe.video
    if video is None:
        what = "audio only" if probe.audio is not None else "no streams"
        raise InvalidInput("NoVideoStream", f"the file has no video stream ({what})")
    if video.width <= 0 or video.height <= 0 or video.codec in ("unknown", "none"):
        raise InvalidInput("UndecodableVideo", "the video stream has no decodable frames")
    longest, shortest = max(video.width, video.height), min(video.width, video.height)
    if (
        longest > max(limits.max_width, limits.max_height)
        or shortest > min(limits.max_width, limits.max_height)
        or video.width * video.height > limits.max_pixels
    ):
        raise InvalidInput(
            "DimensionsTooLarge",
            f"{video.width}x{video.height} is larger than allowed (at most "
            f"{max(limits.max_width, limits.max_height)} pixels on a side and "
            f"{limits.max_pixels} pixels per frame)",
        )
    if shortest < limits.min_side:
        raise InvalidInput(
            "DimensionsTooSmall",
            f"{video.width}x{video.height} is below {limits.min_side} pixels on a side",
        )
    if probe.duration is None:
        raise InvalidInput("DurationUnknown", "the duration of the file cannot be determined")
    if probe.duration > limits.max_duration_s:
        raise InvalidInput(
            "DurationTooLong",
            f"{probe.duration:.0f} s is longer than the limit of {limits.max_duration_s:.0f} s",
        )
    if probe.duration < limits.min_duration_s:
        raise InvalidInput(
            "DurationTooShort", f"{probe.duration:.3f} s is shorter than {limits.min_duration_s} s"
        )
    if video.fps <= 0:
        raise InvalidInput("FrameRateUnknown", "the video frame rate cannot be determined")
    if video.fps > limits.max_fps:
        raise InvalidInput(
            "FrameRateTooHigh", f"{float(video.fps):.1f} fps is above {limits.max_fps:g} fps"
        )
    return probe


def _common(limits: Limits, demuxer: str | None, source: MediaInput) -> list[str]:
    args = ["ffprobe", "-v", "error", "-protocol_whitelist", source.protocols]
    args += ["-format_whitelist", limits.allowed_demuxers]
    if demuxer is not None:
        args += ["-f", demuxer]
    return [*args, *source.options]


def input_url(path: Path) -> str:
    """``file:`` + absolute path: a name like ``concat:a|b`` or ``-x`` stays a file name."""
    return local_input(path).url


def probe_args(src: Path | MediaInput, limits: Limits) -> list[str]:
    source = as_input(src)
    return [
        *_common(limits, None, source),
        *("-show_format", "-show_streams", "-of", "json"),
        *("-i", source.url),
    ]


def keyframe_args(src: Path | MediaInput, limits: Limits, demuxer: str) -> list[str]:
    source = as_input(src)
    return [
        *_common(limits, demuxer, source),
        *("-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"),
        *("-of", "csv=p=0", "-i", source.url),
    ]


def run_probe(src: Path | MediaInput, limits: Limits, runner: Runner = run_bounded) -> ProbeResult:
    """ffprobe the input; an unreadable/unparseable one is ``InvalidInput``, a hang kills it."""
    source = as_input(src)
    try:
        done = runner(probe_args(source, limits), limits.probe_timeout_s)
    except ToolTimeoutError as exc:
        raise InvalidInput("ProbeTimeout", str(exc)) from None
    except OSError as exc:
        raise StorageError("ProbeFailed", f"cannot run ffprobe: {exc}") from None
    if done.returncode != 0:
        detail = source.redact(done.stderr).strip().splitlines()[-1:] or ["no output"]
        if source.protocols != "file" and _looks_like_transport(detail[0]):
            raise StorageError("SourceUnreadable", f"cannot read {source.name}: {detail[0]}")
        raise InvalidInput("ProbeFailed", f"ffprobe cannot read the file: {detail[0]}")
    try:
        return parse(done.stdout)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput("ProbeFailed", f"unreadable ffprobe output: {exc}") from None


def _looks_like_transport(line: str) -> bool:
    """An HTTP/network failure (403, 5xx, reset): the store's fault, so retryable."""
    hints = ("Server returned", "Connection", "timed out", "HTTP error", "I/O error")
    return any(hint in line for hint in hints)


def run_keyframes(src: Path | MediaInput, limits: Limits, demuxer: str) -> tuple[float, ...] | None:
    """Keyframe times (packets only, no decoding); ``None`` if they cannot be read in time."""
    try:
        done = run_bounded(keyframe_args(src, limits, demuxer), limits.probe_timeout_s)
    except (ToolTimeoutError, OSError):
        return None
    return parse_keyframes(done.stdout) if done.returncode == 0 else None
