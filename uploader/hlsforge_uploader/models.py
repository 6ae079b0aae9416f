"""HTTP request and response models. Separate from the CR model, but built from its parts:
the options a client may pass are the TranscodeJob spec's own ``JobOptions``, docs and bounds
included, minus where things go."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hlsforge_api.v1alpha1 import ApiModel, JobOptions, Phase, RenditionOutput


class UploadOptions(JobOptions):
    """Ladder and policies for the job an upload creates. ``source``/``output`` are the
    server's to choose, so they are refused here (unknown fields are errors)."""


class JobView(ApiModel):
    """What clients see of a TranscodeJob: its status plus the URLs to follow it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    phase: Phase = Phase.PENDING
    progress: float = 0
    fps: float | None = None
    speed: float | None = None
    eta: int | None = None
    attempts: int = 0
    message: str | None = None
    reason: str | None = None
    created_at: datetime | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    source_deleted: bool = False
    renditions: list[RenditionOutput] = Field(default_factory=list)
    duration_seconds: float | None = None
    resource_version: str | None = None
    deleting: bool = False
    status_url: str
    events_url: str
    playback_url: str
    """The master playlist through this service; it answers 404 until the job Succeeded."""


class UploadCreated(ApiModel):
    id: str
    status_url: str
    events_url: str
    playback_url: str
    job: JobView
    replayed: bool = False
    """True when this answers a retry with the same Idempotency-Key (no new job)."""


class JobPage(ApiModel):
    items: list[JobView]
    next: str | None = None
    """Pass as ``continue`` to get the next page; absent on the last page."""


class Health(BaseModel):
    status: str
    checks: dict[str, bool] = Field(default_factory=dict)


class DirectUploadCreated(ApiModel):
    """A direct upload: PUT the file to ``url`` with ``headers``, then POST ``complete``."""

    id: str
    method: str = "PUT"
    url: str
    """A presigned PUT of the object store's public endpoint; a credential until it expires."""
    headers: dict[str, str]
    """Headers the PUT must carry (they are signed): ``If-None-Match: *``."""
    expires_at: datetime
    complete: str
    """Path to POST (with the bearer token) once the PUT succeeded."""
