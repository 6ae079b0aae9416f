"""Probe an untrusted file with ffprobe, under the same allow-lists as the encode.

``run_probe`` is the only I/O here; ``parse`` (ffprobe JSON -> ``ProbeResult``) and ``validate``
(``ProbeResult`` + ``Limits`` -> accepted or ``InvalidInput``) are pure and unit-tested.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from hlsforge_api.errors import InvalidInput, StorageError
from hlsforge_media.limits import ALLOWED_DEMUXERS, Limits
from hlsforge_media.media_input import MediaInput, as_input, local_input
from hlsforge_media.proc import Completed, ToolOutputTooLargeError, ToolTimeoutError, run_bounded
from hlsforge_media.streams import AudioStream as AudioStream  # re-exported: the probe's model
from hlsforge_media.streams import ProbeResult as ProbeResult
from hlsforge_media.streams import VideoStream as VideoStream

Runner = Callable[[list[str], float], Completed]
"""Runs an argv with a deadline (``proc.run_bounded``'s contract: raises ``ToolTimeoutError``
or ``OSError``); a caller may confine the child further (the uploader's probe sandbox)."""


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


_CLOCK = re.compile(r"(\d{1,9}):([0-5]\d):([0-5]\d(?:\.\d{1,9})?)")


def _clock(value: object) -> float | None:
    """Matroska's ``DURATION`` tag, ``HH:MM:SS.fffffffff``, in seconds; ``None`` if not one."""
    match = _CLOCK.fullmatch(str(value))
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    total = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return total if total > 0 else None


def _positive(value: float | None) -> float | None:
    return value if value is not None and value > 0 else None


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
    streams = data.get("streams") or []
    for stream in streams:
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
                duration=_positive(_float(stream.get("duration")))
                or _clock((stream.get("tags") or {}).get("DURATION")),
            )
        elif kind == "audio" and audio is None:
            audio = AudioStream(
                codec=str(stream.get("codec_name", "unknown")),
                channels=_int(stream.get("channels")) or 0,
                sample_rate=_int(stream.get("sample_rate")),
            )
    return ProbeResult(
        format_name=str(fmt.get("format_name", "")),
        duration=_positive(_float(fmt.get("duration"))),
        video=video,
        audio=audio,
        size_bytes=_int(fmt.get("size")),
        bit_rate=_int(fmt.get("bit_rate")),
        stream_count=len(streams),
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
    """Accept the probe or raise ``InvalidInput`` with the reason a user can act on.

    Every number the planner computes with is bounded here, so planning is bounded by
    construction: stream count, coded and displayed size, sample aspect ratio, duration and
    frame rate (NaN, infinities, zero and negative values never get this far: ``parse`` turns
    them into ``None``/0, which is refused).
    """
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
    if probe.stream_count > limits.max_streams:
        raise InvalidInput(
            "TooManyStreams",
            f"the file has {probe.stream_count} streams; at most {limits.max_streams} are accepted",
        )
    video = probe.video
    if video is None:
        what = "audio only" if probe.audio is not None else "no streams"
        raise InvalidInput("NoVideoStream", f"the file has no video stream ({what})")
    if video.width <= 0 or video.height <= 0 or video.codec in ("unknown", "none"):
        raise InvalidInput("UndecodableVideo", "the video stream has no decodable frames")
    _check_size(video.width, video.height, limits, "")
    _check_aspect(video, limits)
    shown = video.display_size
    _check_size(shown[0], shown[1], limits, "displayed as ")
    _check_time(probe, video, limits)
    return probe


def _check_size(width: int, height: int, limits: Limits, how: str) -> None:
    longest, shortest = max(width, height), min(width, height)
    if (
        longest > max(limits.max_width, limits.max_height)
        or shortest > min(limits.max_width, limits.max_height)
        or width * height > limits.max_pixels
    ):
        raise InvalidInput(
            "DimensionsTooLarge",
            f"{how}{width}x{height} is larger than allowed (at most "
            f"{max(limits.max_width, limits.max_height)} pixels on a side and "
            f"{limits.max_pixels} pixels per frame)",
        )
    if shortest < limits.min_side:
        raise InvalidInput(
            "DimensionsTooSmall",
            f"{how}{width}x{height} is below {limits.min_side} pixels on a side",
        )


def _check_aspect(video: VideoStream, limits: Limits) -> None:
    bound = limits.max_sample_aspect
    if not Fraction(1, bound) <= video.sar <= bound:
        raise InvalidInput(
            "AspectRatioUnsupported",
            f"the sample aspect ratio {video.sar.numerator}:{video.sar.denominator} is outside "
            f"1:{bound}..{bound}:1",
        )


def _check_time(probe: ProbeResult, video: VideoStream, limits: Limits) -> None:
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
    if video.fps < limits.min_fps:
        raise InvalidInput(
            "FrameRateTooLow", f"{float(video.fps):.3f} fps is below {limits.min_fps:g} fps"
        )


def tool_caps(limits: Limits) -> list[str]:
    """Every ffprobe/ffmpeg call's resource caps: ``-max_alloc`` (global: the largest single
    allocation) and ``-max_pixels`` (an input option read by the decoders: a frame above it
    is not even allocated, even when the size changes mid-stream after the probe)."""
    return ["-max_alloc", str(limits.max_alloc_bytes), "-max_pixels", str(limits.max_pixels)]


PIXELS_EXCEEDED = "exceeds specified max pixel count"
"""What ffmpeg's decoders print when a frame is over ``-max_pixels``."""


def pixel_cap_refusal(stderr: str, limits: Limits) -> InvalidInput | None:
    """The refusal to raise when a tool failed on the pixel cap, else ``None``."""
    if PIXELS_EXCEEDED not in stderr:
        return None
    return InvalidInput(
        "DimensionsTooLarge",
        f"a frame is larger than {limits.max_pixels} pixels (the decoder's cap); refused",
    )


def _common(limits: Limits, demuxer: str | None, source: MediaInput) -> list[str]:
    args = ["ffprobe", "-v", "error", *tool_caps(limits), "-protocol_whitelist", source.protocols]
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


def capped_runner(limits: Limits) -> Runner:
    """``run_bounded`` with ``limits.max_probe_output_bytes`` on what ffprobe prints."""

    def run(argv: list[str], timeout_s: float) -> Completed:
        return run_bounded(argv, timeout_s, max_output_bytes=limits.max_probe_output_bytes)

    return run


def run_probe(src: Path | MediaInput, limits: Limits, runner: Runner | None = None) -> ProbeResult:
    """ffprobe the input; an unreadable/unparseable one is ``InvalidInput``, a hang kills it.
    ``runner`` defaults to ``capped_runner(limits)``."""
    source = as_input(src)
    try:
        done = (runner or capped_runner(limits))(probe_args(source, limits), limits.probe_timeout_s)
    except ToolTimeoutError as exc:
        raise InvalidInput("ProbeTimeout", str(exc)) from None
    except ToolOutputTooLargeError as exc:
        raise InvalidInput(
            "ProbeOutputTooLarge", f"ffprobe's description is too large: {exc}"
        ) from None
    except OSError as exc:
        raise StorageError("ProbeFailed", f"cannot run ffprobe: {exc}") from None
    if done.returncode != 0:
        refusal = pixel_cap_refusal(done.stderr, limits)
        if refusal is not None:
            raise refusal
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
        done = capped_runner(limits)(keyframe_args(src, limits, demuxer), limits.probe_timeout_s)
    except (ToolTimeoutError, ToolOutputTooLargeError, OSError):
        return None
    return parse_keyframes(done.stdout) if done.returncode == 0 else None
