"""A TranscodeJob's spec: where the source and the output are, and how the platform runs it.

Constraints that the API server must also enforce are expressed twice on purpose: as a
pydantic constraint and, where JSON Schema cannot say it, as a CEL rule.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from hlsforge_api.quantity import parse_quantity
from hlsforge_api.v1alpha1.base import ApiModel, cel
from hlsforge_api.v1alpha1.encoding import ENCODING_RULES, EncodingSettings

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
        json_schema_extra=cel(_NO_DOT_DOT_RULE),
    ),
]


class SourcePolicy(StrEnum):
    DELETE_ON_SUCCESS = "DeleteOnSuccess"
    RETAIN = "Retain"


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


class JobOptions(EncodingSettings):
    """Everything of a spec a client may choose: the encoding settings, and how the platform
    runs the job. The uploader's upload options are exactly these (where things go is the
    server's choice there)."""

    source_policy: SourcePolicy = SourcePolicy.DELETE_ON_SUCCESS
    """Delete the source once the output is verified (default), or keep it."""
    max_retries: int = Field(default=3, ge=0, le=10)
    """Attempts allowed after the first for transient failures (Job ``backoffLimit``)."""
    active_deadline_seconds: int = Field(default=7200, ge=60, le=7 * 24 * 3600)
    """Wall-clock limit for the whole transcode, all attempts included."""
    priority: int = Field(default=0, ge=-100, le=100)
    """Higher runs first when the concurrency cap makes jobs wait."""
    resources: Resources | None = None


class _Locations(EncodingSettings):
    """``source`` and ``output``: a base of ``TranscodeJobSpec`` only. Listed after
    ``JobOptions`` among the spec's bases, it keeps the order the spec's fields have always
    had (encoding, locations, job options), in the CRD and on the wire."""

    source: Location
    """The upload: a path relative to the shared volume, or ``s3://bucket/key``. It must lie in
    the platform's sources area (``uploads/`` by default) and belong to no other TranscodeJob:
    the operator claims it for this one, which alone may delete it."""
    output: Location
    """Destination prefix (path on the shared volume, or ``s3://bucket/prefix``). It must lie in
    the outputs area (``hls/`` by default), and neither hold media already nor lie inside or
    above another TranscodeJob's output: the operator claims it for this one."""

    @field_validator("source", "output")
    @classmethod
    def _location(cls, value: str) -> str:
        return _check_location(value)


_SPEC_RULES = (
    *ENCODING_RULES,
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


class TranscodeJobSpec(JobOptions, _Locations):
    """What to transcode, where to put it, and how the platform should run it."""

    model_config = ConfigDict(json_schema_extra=cel(*_SPEC_RULES))

    @model_validator(mode="after")
    def _output_is_not_source(self) -> TranscodeJobSpec:
        source, output = self.source.rstrip("/"), self.output.rstrip("/")
        if source == output:
            raise ValueError("output must differ from source")
        if source.startswith(output + "/") or output.startswith(source + "/"):
            raise ValueError("source and output must not lie inside one another")
        return self
