"""The TranscodeJob resource itself: metadata, spec and status together."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from hlsforge_api.v1alpha1.base import API_VERSION, KIND, MAX_NAME_LENGTH, ApiModel
from hlsforge_api.v1alpha1.spec import TranscodeJobSpec
from hlsforge_api.v1alpha1.status import TranscodeJobStatus


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
