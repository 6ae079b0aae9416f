"""The TranscodeJob API, version v1alpha1: the single definition of the resource.

The operator, the uploader, the transcoder and ``kubectl`` all agree through these models:
the CRD in ``deploy/crds/`` is generated from them (``hlsforge crd``), the uploader validates
requests with them, and the transcoder reads its settings through them.

Field names follow Kubernetes conventions (camelCase on the wire, snake_case in Python).
Constraints that the API server must also enforce are expressed twice on purpose: as a
pydantic constraint (checked in Python before anything is sent) and, where JSON Schema cannot
say it, as a CEL rule under ``x-kubernetes-validations`` (checked by the API server for
``kubectl apply``). ``tests/integration/test_crd_apiserver.py`` proves on a real API
server that both refuse the same specs.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from hlsforge_api.quantity import parse_quantity

GROUP = "hlsforge.io"
VERSION = "v1alpha1"
API_VERSION: Final = "hlsforge.io/v1alpha1"
KIND: Final = "TranscodeJob"
PLURAL = "transcodejobs"
SINGULAR = "transcodejob"
SHORT_NAMES = ("tj",)
MAX_NAME_LENGTH = 52
"""A TranscodeJob's name prefixes its Job's and pods' names and is a label value (<= 63)."""

# A storage location is either an S3 URI or a relative path on the shared volume.
# Bucket names follow the S3 naming rules; keys and paths may not climb out with "..".
_S3_URI = r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s]+"
_VOLUME_PATH = r"[A-Za-z0-9_][A-Za-z0-9._/-]*"
LOCATION_PATTERN = rf"^({_S3_URI}|{_VOLUME_PATH})$"
_DOT_DOT_SEGMENT = r"(^|/)[.][.](/|$)"
_NO_DOT_DOT_RULE = {
    "rule": f"!self.matches('{_DOT_DOT_SEGMENT}')",
    "message": "must not contain '..' path segments",
    "reason": "FieldValueInvalid",
}


def _cel(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


class ApiModel(BaseModel):
    """Base for every API object: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_assignment=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-compatible dict Kubernetes stores (camelCase, unset optionals left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _check_location(value: str) -> str:
    if re.search(_DOT_DOT_SEGMENT, value):
        raise ValueError("must not contain '..' path segments")
    if "//" in value.removeprefix("s3://"):
        raise ValueError("must not contain empty path segments ('//')")
    return value


Location = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        pattern=LOCATION_PATTERN,
        json_schema_extra=_cel(_NO_DOT_DOT_RULE),
    ),
]


class VideoCodec(StrEnum):
    H264 = "h264"
    H265 = "h265"


class SegmentFormat(StrEnum):
    TS = "ts"
    FMP4 = "fmp4"


class SourcePolicy(StrEnum):
    DELETE_ON_SUCCESS = "DeleteOnSuccess"
    RETAIN = "Retain"


class Phase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def is_final(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


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
        json_schema_extra=_cel(
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


_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
Quantity = Annotated[str, Field(pattern=_QUANTITY, max_length=32)]


class ResourceList(ApiModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    ephemeral_storage: Quantity | None = Field(default=None, alias="ephemeral-storage")


class Resources(ApiModel):
    """Compute resources of the transcoder pod; the chart's defaults apply when unset."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        if self.requests is None or self.limits is None:
            return self
        limits = self.limits.model_dump(by_alias=True, exclude_none=True)
        for name, request in self.requests.model_dump(by_alias=True, exclude_none=True).items():
            limit = limits.get(name)
            if limit is not None and parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"resources.requests.{name} exceeds resources.limits.{name}")
        return self


_ENCODING_RULES = (
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
# Fields that decide what is written where may not change once the job exists: a running
# or finished transcode would otherwise no longer match its own spec.
IMMUTABLE_SPEC_FIELDS = (
    "source",
    "output",
    "renditions",
    "segmentDuration",
    "segmentFormat",
    "video",
    "audio",
    "thumbnails",
)


class EncodingSettings(ApiModel):
    """Everything that decides what the output looks like. The CLI uses these alone."""

    model_config = ConfigDict(json_schema_extra=_cel(*_ENCODING_RULES))

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


_SPEC_RULES = (
    *_ENCODING_RULES,
    {"rule": "self.source != self.output", "message": "output must differ from source"},
    {
        "rule": "!self.source.startsWith(self.output + '/') && "
        "!self.output.startsWith(self.source + '/')",
        "message": "source and output must not lie inside one another",
    },
    *(
        {
            "rule": f"has(self.{field}) == has(oldSelf.{field}) && "
            f"(!has(self.{field}) || self.{field} == oldSelf.{field})",
            "message": f"spec.{field} is immutable",
        }
        for field in IMMUTABLE_SPEC_FIELDS
    ),
)


class TranscodeJobSpec(EncodingSettings):
    """What to transcode, where to put it, and how the platform should run it."""

    model_config = ConfigDict(json_schema_extra=_cel(*_SPEC_RULES))

    source: Location
    """The upload: a path relative to the shared volume, or ``s3://bucket/key``. It must lie in
    the platform's sources area (``uploads/`` by default) and belong to no other TranscodeJob:
    the operator claims it for this one, which alone may delete it."""
    output: Location
    """Destination prefix (path on the shared volume, or ``s3://bucket/prefix``). It must lie in
    the outputs area (``hls/`` by default), and neither hold media already nor lie inside or
    above another TranscodeJob's output: the operator claims it for this one."""
    source_policy: SourcePolicy = SourcePolicy.DELETE_ON_SUCCESS
    """Delete the source once the output is verified (default), or keep it."""
    max_retries: int = Field(default=3, ge=0, le=10)
    """Attempts allowed after the first for transient failures (Job ``backoffLimit``)."""
    active_deadline_seconds: int = Field(default=7200, ge=60, le=7 * 24 * 3600)
    """Wall-clock limit for the whole transcode, all attempts included."""
    priority: int = Field(default=0, ge=-100, le=100)
    """Higher runs first when the concurrency cap makes jobs wait."""
    resources: Resources | None = None

    @field_validator("source", "output")
    @classmethod
    def _location(cls, value: str) -> str:
        return _check_location(value)

    @model_validator(mode="after")
    def _output_is_not_source(self) -> TranscodeJobSpec:
        source, output = self.source.rstrip("/"), self.output.rstrip("/")
        if source == output:
            raise ValueError("output must differ from source")
        if source.startswith(output + "/") or output.startswith(source + "/"):
            raise ValueError("source and output must not lie inside one another")
        return self


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A ``metav1.Condition``: one aspect of the job's state, with when it last changed."""

    type: str = Field(pattern=r"^[A-Z][A-Za-z0-9]{0,63}$")
    status: ConditionStatus
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


class RenditionOutput(ApiModel):
    name: str
    playlist: str
    """Path of the variant playlist, relative to the output prefix."""
    resolution: str = Field(pattern=r"^[0-9]+x[0-9]+$")
    bandwidth: int = Field(ge=0)
    """Peak bits per second, as in the master playlist's BANDWIDTH."""
    average_bandwidth: int | None = Field(default=None, ge=0)
    codecs: str | None = None
    copied: bool | None = None
    """True when this variant was packaged from the source without re-encoding."""


class Outputs(ApiModel):
    master_playlist: str
    """Full location of ``master.m3u8`` (volume path or S3 URI)."""
    renditions: list[RenditionOutput] = Field(default_factory=list)
    poster: str | None = None
    sprite: str | None = None
    thumbnails_vtt: str | None = None
    duration_seconds: float | None = Field(default=None, ge=0)


class TranscodeJobStatus(ApiModel):
    """Written by the operator only. The uploader, the dashboard and ``kubectl get`` read it."""

    phase: Phase = Phase.PENDING
    progress: float = Field(default=0, ge=0, le=100)
    """Percent of the source's duration encoded so far."""
    fps: float | None = Field(default=None, ge=0)
    speed: float | None = Field(default=None, ge=0)
    """Encoding speed as a multiple of real time."""
    eta: int | None = Field(default=None, ge=0)
    """Seconds left, estimated from speed."""
    attempts: int = Field(default=0, ge=0)
    start_time: datetime | None = None
    completion_time: datetime | None = None
    outputs: Outputs | None = None
    source_deleted: bool = False
    message: str | None = Field(default=None, max_length=32768)
    """Human-readable summary of the current state or of the last failure."""
    reason: str | None = None
    """Machine-readable reason of the last failure (CamelCase, e.g. ``InvalidInput``)."""
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(default=None, ge=0)


class ObjectMeta(ApiModel):
    """The subset of ``metav1.ObjectMeta`` that hlsforge reads and writes."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(
        default=None, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    )
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None


class TranscodeJob(ApiModel):
    api_version: Literal["hlsforge.io/v1alpha1"] = API_VERSION
    kind: Literal["TranscodeJob"] = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TranscodeJobSpec
    status: TranscodeJobStatus | None = None

    @field_validator("metadata")
    @classmethod
    def _name_fits_children(cls, value: ObjectMeta) -> ObjectMeta:
        if value.name is not None and len(value.name) > MAX_NAME_LENGTH:
            raise ValueError(f"metadata.name must be at most {MAX_NAME_LENGTH} characters")
        return value
