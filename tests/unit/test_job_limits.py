"""Per-job maxima: the pure check every enforcer (uploader, operator) shares."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hlsforge_api.job_limits import JobLimits, Violation, violations
from hlsforge_api.v1alpha1 import JobOptions, TranscodeJobSpec

LIMITS = JobLimits(
    cpu="4",
    memory="8Gi",
    ephemeral_storage="50Gi",
    deadline_seconds=3 * 3600,
    retries=4,
    priority=50,
    http_priority=10,
)


def fields(wire: dict[str, Any], *, http: bool = False, limits: JobLimits = LIMITS) -> list[str]:
    return [v.field for v in violations(JobOptions.model_validate(wire), limits, http=http)]


def test_the_defaults_of_a_job_are_within_the_default_limits() -> None:
    assert violations(JobOptions(), JobLimits()) == []
    assert violations(JobOptions(), JobLimits(), http=True) == []


def test_a_job_at_every_maximum_is_within_them() -> None:
    at_max = {
        "resources": {
            "requests": {"cpu": "4000m", "memory": "8Gi", "ephemeral-storage": "50Gi"},
            "limits": {"cpu": "4", "memory": "8192Mi", "ephemeral-storage": "50Gi"},
        },
        "activeDeadlineSeconds": 3 * 3600,
        "maxRetries": 4,
        "priority": 50,
    }
    assert fields(at_max) == []


@pytest.mark.parametrize(
    ("wire", "field"),
    [
        ({"resources": {"requests": {"cpu": "4001m"}}}, "resources.requests.cpu"),
        ({"resources": {"limits": {"cpu": "5"}}}, "resources.limits.cpu"),
        ({"resources": {"requests": {"memory": "9Gi"}}}, "resources.requests.memory"),
        ({"resources": {"limits": {"memory": "8193Mi"}}}, "resources.limits.memory"),
        (
            {"resources": {"requests": {"ephemeral-storage": "51Gi"}}},
            "resources.requests.ephemeral-storage",
        ),
        (
            {"resources": {"limits": {"ephemeral-storage": "1T"}}},
            "resources.limits.ephemeral-storage",
        ),
        ({"activeDeadlineSeconds": 3 * 3600 + 1}, "activeDeadlineSeconds"),
        ({"maxRetries": 5}, "maxRetries"),
        ({"priority": 51}, "priority"),
    ],
)
def test_each_field_beyond_its_maximum_is_named_as_the_client_wrote_it(
    wire: dict[str, Any], field: str
) -> None:
    found = violations(JobOptions.model_validate(wire), LIMITS)
    assert [v.field for v in found] == [field]
    assert str(found[0]).startswith(f"{field}: ") and "maximum" in found[0].message


def test_http_callers_have_the_lower_priority_ceiling() -> None:
    assert fields({"priority": 11}) == []
    assert fields({"priority": 11}, http=True) == ["priority"]
    assert fields({"priority": 10}, http=True) == []
    message = violations(JobOptions(priority=11), LIMITS, http=True)[0].message
    assert "10" in message and "HTTP" in message


def test_every_violation_is_reported_at_once() -> None:
    wire = {
        "resources": {"requests": {"cpu": "16"}, "limits": {"cpu": "16", "memory": "1Ti"}},
        "maxRetries": 10,
        "priority": 100,
    }
    assert fields(wire) == [
        "resources.requests.cpu",
        "resources.limits.cpu",
        "resources.limits.memory",
        "maxRetries",
        "priority",
    ]


def test_violations_read_a_full_spec_too() -> None:
    spec = TranscodeJobSpec(source="uploads/a.mp4", output="hls/a", priority=99)
    assert violations(spec, LIMITS) == [
        Violation("priority", "99 is above this platform's maximum of 50 per job")
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"http_priority": 60},  # above the kubectl ceiling
        {"deadline_seconds": 60},  # below the spec's default: a job with defaults is refused
        {"retries": 2},
        {"priority": -1},
        {"deadline_seconds": 8 * 24 * 3600},
        {"cpu": "8 cores"},
        {"gpu": "1"},
    ],
)
def test_limits_that_would_refuse_the_defaults_or_are_malformed_are_refused(
    bad: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        JobLimits.model_validate({"priority": 50, **bad})
