"""Plan the rendition ladder from the probe and the settings. Pure.

Rules (docs/transcoder.md repeats them for users):
- Default rungs 1080p/720p/480p/360p; a rung is used only if it does not upscale. Rung names
  refer to the short side, so a portrait 1080x1920 phone video gets 1080x1920, 720x1280, ...
- A source smaller than the lowest rung still gets exactly one rendition at its own size.
- Explicit renditions that would upscale are dropped with a note; if all would, the smallest is
  clamped to the source size. Refusing the job would throw away a perfectly usable source.
- Sizes are even (4:2:0), widths follow the display aspect ratio (pixel aspect and rotation).
- The top rendition is packaged without re-encoding (``copy``) only when the source already is
  that rendition: H.264 4:2:0 8-bit, same size, square pixels, no rotation, constant frame rate,
  bitrate within 1.5x of the rung's peak, and a keyframe at every segment boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from hlsforge_api.v1alpha1 import EncodingSettings, SegmentFormat, VideoCodec
from hlsforge_media.limits import Limits
from hlsforge_media.probe import ProbeResult, VideoStream

DEFAULT_RUNGS: tuple[tuple[int, int], ...] = ((1080, 5000), (720, 2800), (480, 1400), (360, 800))
"""(short side, average video kbit/s)."""
MAXRATE_FACTOR = 1.07
BUFSIZE_FACTOR = 1.5
COPY_BITRATE_SLACK = 1.5
COPY_PROFILES = frozenset({"Constrained Baseline", "Baseline", "Main", "High"})
_STANDARD_RATES = tuple(
    Fraction(n, d)
    for n, d in (
        (24000, 1001),
        (24, 1),
        (25, 1),
        (30000, 1001),
        (30, 1),
        (48, 1),
        (50, 1),
        (60000, 1001),
        (60, 1),
    )
)
MAX_JPEG_SIDE = 65000


@dataclass(frozen=True)
class PlannedRendition:
    name: str
    width: int
    height: int
    video_kbps: int
    max_kbps: int
    bufsize_kbps: int
    copy: bool = False

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class AudioPlan:
    bitrate_kbps: int
    channels: int


@dataclass(frozen=True)
class SpritePlan:
    interval_s: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    count: int


@dataclass(frozen=True)
class Plan:
    renditions: tuple[PlannedRendition, ...]
    """Highest first."""
    fps: Fraction
    segment_duration: int
    segment_format: SegmentFormat
    codec: VideoCodec
    preset: str
    audio: AudioPlan | None
    duration: float
    poster_at: float | None = None
    sprite: SpritePlan | None = None
    notes: tuple[str, ...] = ()
    hold_last_picture_s: float = 0.0
    """Seconds the last picture is repeated (``tpad``) when the pictures end well before the
    file does (its sound goes on): every rendition then lasts as long as the source."""

    @property
    def top(self) -> PlannedRendition:
        return self.renditions[0]

    @property
    def copies(self) -> bool:
        return any(r.copy for r in self.renditions)


def even(value: float) -> int:
    """Nearest even integer, at least 2."""
    return max(2, round(value / 2) * 2)


def even_floor(value: int) -> int:
    return max(2, value - value % 2)


def output_fps(video: VideoStream, limits: Limits) -> Fraction:
    """The constant rate of every rendition: the source's, snapped for VFR, halved above max."""
    fps = video.fps
    if video.variable_frame_rate:
        nearest = min(_STANDARD_RATES, key=lambda r: abs(r - fps))
        fps = nearest if abs(nearest - fps) <= fps * Fraction(3, 100) else Fraction(round(fps))
    if fps > limits.max_output_fps:  # halved until it fits: closed form, whatever the rate
        fps /= 2 ** math.ceil(math.log2(fps / Fraction(limits.max_output_fps)))
    return max(fps, Fraction(1))


def _size_for_short_side(short: int, display: tuple[int, int]) -> tuple[int, int]:
    dw, dh = display
    if dw >= dh:  # landscape: the short side is the height
        return min(even(short * dw / dh), even_floor(dw)), short
    return short, min(even(short * dh / dw), even_floor(dh))


def _rendition(
    name: str, size: tuple[int, int], kbps: int, max_kbps: int | None
) -> PlannedRendition:
    peak = max_kbps if max_kbps is not None else round(kbps * MAXRATE_FACTOR)
    return PlannedRendition(name, size[0], size[1], kbps, peak, round(peak * BUFSIZE_FACTOR))


def _default_ladder(display: tuple[int, int]) -> tuple[list[PlannedRendition], list[str]]:
    short_side = min(display)
    rungs = [(h, kbps) for h, kbps in DEFAULT_RUNGS if h <= short_side]
    if rungs:
        out = [_rendition(f"{h}p", _size_for_short_side(h, display), k, None) for h, k in rungs]
        return out, []
    short = even_floor(short_side)
    lowest_h, lowest_kbps = DEFAULT_RUNGS[-1]
    kbps = max(200, round(lowest_kbps * (short / lowest_h) ** 2))
    size = _size_for_short_side(short, display)
    note = f"source is smaller than {lowest_h}p: one rendition at {size[0]}x{size[1]}"
    return [_rendition(f"{short}p", size, kbps, None)], [note]


def _explicit_ladder(
    settings: EncodingSettings, display: tuple[int, int]
) -> tuple[list[PlannedRendition], list[str]]:
    assert settings.renditions is not None
    dw, dh = display
    wanted = sorted(settings.renditions, key=lambda r: r.height, reverse=True)
    kept: list[PlannedRendition] = []
    notes: list[str] = []
    for r in wanted:
        width = r.width if r.width is not None else min(even(r.height * dw / dh), even_floor(dw))
        if r.height > dh or width > dw:
            notes.append(f"rendition {r.name} ({width}x{r.height}) dropped: it would upscale")
            continue
        kept.append(_rendition(r.name, (width, r.height), r.video_bitrate_kbps, r.max_bitrate_kbps))
    if not kept:
        r = wanted[-1]
        height = even_floor(dh)
        width = min(even(height * dw / dh), even_floor(dw))
        notes.append(f"rendition {r.name} clamped to the source size {width}x{height}")
        kept.append(_rendition(r.name, (width, height), r.video_bitrate_kbps, r.max_bitrate_kbps))
    return kept, notes


def keyframes_fit(
    keyframes: tuple[float, ...], segment: int, duration: float, fps: Fraction
) -> bool:
    """True when a keyframe sits on every segment boundary (within half a frame)."""
    tolerance = 0.5 / float(fps)
    boundaries = math.ceil(duration / segment - 1e-6)
    keys = sorted(keyframes)
    if not keys or keys[0] > tolerance:
        return False
    index = 0
    for k in range(1, boundaries):
        t = k * segment
        while index < len(keys) and keys[index] < t - tolerance:
            index += 1
        if index == len(keys) or keys[index] > t + tolerance:
            return False
    return True


def picture_gap(probe: ProbeResult, segment: int) -> float:
    """How long the file goes on after its last picture, when the video stream's own duration
    is known and the gap is beyond what a cut source is allowed (``run``'s tolerance); else 0."""
    video = probe.video
    if video is None or video.duration is None or probe.duration is None:
        return 0.0
    gap = probe.duration - video.duration
    tolerance = min(segment, max(1.0, 0.02 * probe.duration))
    return round(gap, 3) if gap > tolerance else 0.0


def copy_refusal(
    probe: ProbeResult, settings: EncodingSettings, top: PlannedRendition, fps: Fraction
) -> str | None:
    """Why the top rendition cannot be copied from the source, or ``None`` if it can."""
    video = probe.video
    assert video is not None
    source_kbps = (video.bit_rate or probe.bit_rate or 0) / 1000
    checks = (
        (settings.video.allow_copy, "copy disabled"),
        (settings.video.codec is VideoCodec.H264, "output codec is not H.264"),
        (video.codec == "h264", f"source codec is {video.codec}"),
        (video.profile in COPY_PROFILES, f"source profile {video.profile} not supported"),
        (video.pix_fmt == "yuv420p", f"source pixel format is {video.pix_fmt}"),
        ((video.width, video.height) == (top.width, top.height), "source size differs"),
        (video.sar == 1 and video.rotation == 0, "source is anamorphic or rotated"),
        (not video.variable_frame_rate and fps == video.fps, "frame rate changes"),
        (0 < source_kbps <= top.max_kbps * COPY_BITRATE_SLACK, "source bitrate too high"),
        (picture_gap(probe, settings.segment_duration) == 0, "the pictures end before the sound"),
        (probe.keyframes is not None, "keyframes unknown"),
    )
    for ok, reason in checks:
        if not ok:
            return reason
    assert probe.keyframes is not None and probe.duration is not None
    if not keyframes_fit(probe.keyframes, settings.segment_duration, probe.duration, fps):
        return "source keyframes are not on segment boundaries"
    return None


def _sprite(
    settings: EncodingSettings, display: tuple[int, int], duration: float, limits: Limits
) -> SpritePlan | None:
    """The sprite sheet: a bounded number of tiles in one JPEG no larger than
    ``MAX_JPEG_SIDE`` on a side nor ``limits.max_sprite_pixels`` in area. Closed form: no
    probed number (duration, aspect) can make it loop, and its size is capped whatever they
    are; ``sprite_vtt`` writes one cue per tile."""
    sprite = settings.thumbnails.sprite
    if sprite is None:
        return None
    # A tile keeps the display's aspect ratio but is never taller than a JPEG can be: with an
    # extreme sample aspect ratio not even one tile fitted, and the search below never ended.
    tile_w = sprite.width
    tile_h = even(tile_w * display[1] / display[0])
    if tile_h > MAX_JPEG_SIDE:
        tile_h = even_floor(MAX_JPEG_SIDE)
        tile_w = even(tile_h * display[0] / display[1])
    tile_pixels = tile_w * tile_h  # at most 640 x MAX_JPEG_SIDE: below max_sprite_pixels
    columns = max(1, min(sprite.columns, limits.max_sprite_pixels // tile_pixels))
    by_area = limits.max_sprite_pixels // (tile_pixels * columns)
    max_rows = max(1, min(MAX_JPEG_SIDE // tile_h, by_area))
    # Thumbnails are spaced at the asked interval, doubled until they fit in max_rows rows:
    # closed form, so no probed number can make it loop.
    most = max_rows * columns
    interval = float(sprite.interval_seconds)
    duration = min(max(duration, 0.0), limits.max_duration_s)
    if duration / interval > most:
        interval *= 2 ** math.ceil(math.log2(duration / (interval * most)))
    count = max(1, min(most, math.ceil(duration / interval)))
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    return SpritePlan(interval, tile_w, tile_h, columns, rows, count)


def plan_ladder(probe: ProbeResult, settings: EncodingSettings, limits: Limits) -> Plan:
    """Plan every output of one transcode. ``probe`` must have passed ``validate``."""
    video = probe.video
    assert video is not None and probe.duration is not None
    display = video.display_size
    if settings.renditions:
        renditions, notes = _explicit_ladder(settings, display)
    else:
        renditions, notes = _default_ladder(display)
    fps = output_fps(video, limits)
    refusal = copy_refusal(probe, settings, renditions[0], fps)
    if refusal is None:
        renditions[0] = PlannedRendition(**{**renditions[0].__dict__, "copy": True})
    elif settings.video.allow_copy:
        notes.append(f"top rendition re-encoded: {refusal}")
    audio = None
    if settings.audio.codec == "aac" and probe.audio is not None:
        channels = min(settings.audio.channels, max(1, probe.audio.channels))
        audio = AudioPlan(settings.audio.bitrate_kbps, channels)
    elif settings.audio.codec == "aac":
        notes.append("source has no audio: renditions are video only")
    # Thumbnails show pictures: they are planned on the video's own duration when the
    # container gives it (the audio may go on long after the last frame), never beyond the
    # container's. ffmpeg_args still falls back to the first frame for the poster.
    pictures = min(probe.duration, video.duration or probe.duration)
    hold = picture_gap(probe, settings.segment_duration)
    if hold:
        notes.append(f"the pictures end at {pictures:.1f} s: the last one is held to the end")
    poster_at = None
    if settings.thumbnails.poster:
        latest = max(0.0, pictures - 2 / float(fps))
        wanted = pictures * settings.thumbnails.poster_at_percent / 100
        poster_at = round(min(wanted, latest), 3)
    return Plan(
        renditions=tuple(renditions),
        fps=fps,
        segment_duration=settings.segment_duration,
        segment_format=settings.segment_format,
        codec=settings.video.codec,
        preset=settings.video.preset,
        audio=audio,
        duration=probe.duration,
        poster_at=poster_at,
        sprite=_sprite(settings, display, pictures, limits),
        notes=tuple(notes),
        hold_last_picture_s=hold,
    )
