"""Per-job maxima of a platform: how much one TranscodeJob may ask for.

The CRD bounds what a spec can say at all (priority -100..100, a 7-day deadline); these bound
what this platform grants: CPU, memory and ephemeral storage (each request and each limit), the
deadline, the retries and the priority. Without them one spec asking for more CPU than any node
has is accepted, never scheduled, and holds a slot of the queue for days.

One model, three enforcers that must agree: the uploader answers 422 naming the field, the
chart's ValidatingAdmissionPolicy refuses ``kubectl apply`` with the same rule, and the operator
refuses what slipped past both (a policy turned off) as ``InvalidSpec``. Callers over HTTP get
a lower priority ceiling (``http_priority``) than kubectl users. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hlsforge_api.quantity import parse_quantity
from hlsforge_api.v1alpha1 import JobOptions, Quantity, ResourceList

_DEFAULTS = JobOptions()
_WEEK = 7 * 24 * 3600


class JobLimits(BaseModel):
    """The maxima (inclusive). Each one is at least the spec's default, so a job that sets
    nothing is always within them (the API server applies the CRD's defaults before
    admission, so the policy sees them too)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    cpu: Quantity = "8"
    """Largest CPU request and limit of a transcoder pod (cores)."""
    memory: Quantity = "16Gi"
    """Largest memory request and limit of a transcoder pod."""
    ephemeral_storage: Quantity = "100Gi"
    """Largest ephemeral-storage request and limit of a transcoder pod."""
    deadline_seconds: int = Field(default=24 * 3600, ge=_DEFAULTS.active_deadline_seconds, le=_WEEK)
    """Largest ``activeDeadlineSeconds``."""
    retries: int = Field(default=5, ge=_DEFAULTS.max_retries, le=10)
    """Largest ``maxRetries``."""
    priority: int = Field(default=100, ge=_DEFAULTS.priority, le=100)
    """Highest ``priority`` (kubectl users, and anyone creating TranscodeJobs directly)."""
    http_priority: int = Field(default=10, ge=_DEFAULTS.priority, le=100)
    """Highest ``priority`` of a job created over HTTP (the uploader); at most ``priority``."""

    @model_validator(mode="after")
    def _http_not_above_kubectl(self) -> JobLimits:
        if self.http_priority > self.priority:
            raise ValueError(f"http_priority {self.http_priority} exceeds priority {self.priority}")
        return self

    def quantities(self) -> dict[str, Decimal]:
        """Each resource's maximum in base units, by its wire name."""
        return {
            "cpu": parse_quantity(self.cpu),
            "memory": parse_quantity(self.memory),
            "ephemeral-storage": parse_quantity(self.ephemeral_storage),
        }


@dataclass(frozen=True)
class Violation:
    """One field beyond its maximum: ``field`` is its path as the client wrote it, relative to
    the spec (camelCase, ``resources.requests.ephemeral-storage``)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _wire(name: str) -> str:
    return JobOptions.model_fields[name].alias or name


def resource_violations(
    kind: str, given: ResourceList | None, limits: JobLimits
) -> list[Violation]:
    """``resources.<kind>`` (``requests`` or ``limits``) beyond the maxima."""
    if given is None:
        return []
    maxima, spelled = limits.quantities(), limits.model_dump()
    out = []
    for name, text in given.model_dump(by_alias=True, exclude_none=True).items():
        if parse_quantity(text) > maxima[name]:
            ceiling = spelled[name.replace("-", "_")]
            out.append(
                Violation(
                    f"resources.{kind}.{name}",
                    f"{text} is above this platform's maximum of {ceiling} per job",
                )
            )
    return out


def violations(options: JobOptions, limits: JobLimits, *, http: bool = False) -> list[Violation]:
    """Every field of ``options`` (a spec, or an upload's options) beyond ``limits``; empty when
    the job is within them. ``http``: the caller came over HTTP, whose priority ceiling is
    ``http_priority``."""
    out: list[Violation] = []
    if options.resources is not None:
        out += resource_violations("requests", options.resources.requests, limits)
        out += resource_violations("limits", options.resources.limits, limits)
    if options.active_deadline_seconds > limits.deadline_seconds:
        out.append(
            Violation(
                _wire("active_deadline_seconds"),
                f"{options.active_deadline_seconds} is above this platform's maximum of "
                f"{limits.deadline_seconds} seconds",
            )
        )
    if options.max_retries > limits.retries:
        out.append(
            Violation(
                _wire("max_retries"),
                f"{options.max_retries} is above this platform's maximum of {limits.retries}",
            )
        )
    ceiling = limits.http_priority if http else limits.priority
    if options.priority > ceiling:
        who = "for jobs created over HTTP" if http else "per job"
        out.append(
            Violation(
                _wire("priority"),
                f"{options.priority} is above this platform's maximum of {ceiling} {who}",
            )
        )
    return out
