"""How the output looks: the rendition ladder, codecs, segments, thumbnails.

``EncodingSettings`` is the part of a TranscodeJob's spec that decides the output alone; the
CLI's ``hlsforge transcode`` uses it without a cluster.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from hlsforge_api.v1alpha1.base import ApiModel, cel


class VideoCodec(StrEnum):
    H264 = "h264"
    H265 = "h265"


class SegmentFormat(StrEnum):
    TS = "ts"
    FMP4 = "fmp4"


Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]


class Rendition(ApiModel):
    """One variant of the ladder. The width follows the source's aspect ratio when omitted."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", max_length=32, examples=["720p"])
    """Short name used for the variant's folder and playlist, e.g. ``720p``."""
    height: int = Field(ge=144, le=4320, multiple_of=2)
    """Frame height in pixels (even)."""
    width: int | None = Field(default=None, ge=144, le=7680, multiple_of=2)
    """Frame width in pixels (even); derived from the source's display aspect ratio if unset."""
    video_bitrate_kbps: int = Field(ge=100, le=100_000)
    """Target average video bitrate in kbit/s."""
    max_bitrate_kbps: int | None = Field(default=None, ge=100, le=150_000)
    """Peak video bitrate in kbit/s (VBV maxrate); 1.07 x the average when unset."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            {
                "rule": "!has(self.maxBitrateKbps) || self.maxBitrateKbps >= self.videoBitrateKbps",
                "message": "maxBitrateKbps must not be below videoBitrateKbps",
            }
        )
    )

    @model_validator(mode="after")
    def _max_not_below_average(self) -> Rendition:
        if self.max_bitrate_kbps is not None and self.max_bitrate_kbps < self.video_bitrate_kbps:
            raise ValueError("maxBitrateKbps must not be below videoBitrateKbps")
        return self


class VideoSettings(ApiModel):
    """How video is encoded."""

    codec: VideoCodec = VideoCodec.H264
    """Output codec. ``h265`` requires ``segmentFormat: fmp4`` (HLS carries HEVC only in fMP4)."""
    preset: Preset = "veryfast"
    """Encoder speed/quality trade-off (x264/x265 preset names)."""
    allow_copy: bool = True
    """Package the top rendition without re-encoding when the source already matches it
    (same codec, size and compatible keyframes)."""


class AudioSettings(ApiModel):
    """How audio is encoded; ``codec: none`` drops audio."""

    codec: Literal["aac", "none"] = "aac"
    bitrate_kbps: int = Field(default=128, ge=32, le=512)
    """AAC bitrate in kbit/s, shared by every rendition."""
    channels: int = Field(default=2, ge=1, le=2)


class SpriteSettings(ApiModel):
    """A sprite sheet of small frames plus a WebVTT file that maps times to tiles."""

    interval_seconds: int = Field(default=10, ge=1, le=600)
    width: int = Field(default=160, ge=32, le=640, multiple_of=2)
    columns: int = Field(default=10, ge=1, le=50)


class ThumbnailSettings(ApiModel):
    poster: bool = True
    """Write ``poster.jpg`` from a frame at ``posterAtPercent`` of the duration."""
    poster_at_percent: float = Field(default=10.0, ge=0, le=100)
    sprite: SpriteSettings | None = None
    """When set, also write ``sprite.jpg`` and ``sprite.vtt``."""


ENCODING_RULES = (
    {
        "rule": "self.video.codec != 'h265' || self.segmentFormat == 'fmp4'",
        "message": "video.codec h265 requires segmentFormat fmp4",
    },
    {
        "rule": "!has(self.renditions) || "
        "self.renditions.all(a, self.renditions.exists_one(b, b.name == a.name))",
        "message": "rendition names must be unique",
    },
)


class EncodingSettings(ApiModel):
    """Everything that decides what the output looks like. The CLI uses these alone."""

    model_config = ConfigDict(json_schema_extra=cel(*ENCODING_RULES))

    renditions: list[Rendition] | None = Field(default=None, min_length=1, max_length=8)
    """Explicit ladder. When unset the ladder is planned from the source (never upscaling)."""
    segment_duration: int = Field(default=4, ge=1, le=30)
    """Target segment length in seconds; keyframes are forced at every boundary."""
    segment_format: SegmentFormat = SegmentFormat.TS
    """``ts`` (MPEG-TS segments) or ``fmp4`` (fragmented MP4 / CMAF)."""
    video: VideoSettings = Field(default_factory=VideoSettings)
    audio: AudioSettings = Field(default_factory=AudioSettings)
    thumbnails: ThumbnailSettings = Field(default_factory=ThumbnailSettings)

    @field_validator("renditions")
    @classmethod
    def _unique_names(cls, value: list[Rendition] | None) -> list[Rendition] | None:
        if value is not None and len({r.name for r in value}) != len(value):
            raise ValueError("rendition names must be unique")
        return value

    @model_validator(mode="after")
    def _hevc_needs_fmp4(self) -> EncodingSettings:
        if self.video.codec is VideoCodec.H265 and self.segment_format is not SegmentFormat.FMP4:
            raise ValueError("video.codec h265 requires segmentFormat fmp4")
        return self
