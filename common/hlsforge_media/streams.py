"""What a probe found: the first video stream, the first audio stream, the container. Pure
data; ``probe.parse`` builds it and ``probe.validate`` bounds every number in it."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


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
    duration: float | None = None
    """The video stream's own duration when the container gives it (mp4 does, Matroska
    usually not): pictures may end well before the audio, and the container's duration."""

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
    stream_count: int = 0
    """Streams of every kind ffprobe listed (``validate`` caps it)."""

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
