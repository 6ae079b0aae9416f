"""A TranscodeJob's status: written by the operator only, the one truth everyone else reads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from hlsforge_api.v1alpha1.base import ApiModel


class Phase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def is_final(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


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
    requeues: int = Field(default=0, ge=0, le=1000)
    """Times the job gave its run slot back because no node could take its pod."""
    requeued_at: datetime | None = None
    """When it last went back to the queue; the queue orders it by this instead of its
    creation, so it waits behind the jobs that were already waiting."""
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
