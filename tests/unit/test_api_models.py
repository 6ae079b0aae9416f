"""The TranscodeJob models: what they accept, what they refuse, and how they look on the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hlsforge_api import conditions
from hlsforge_api.exitcodes import NON_RETRYABLE, ExitCode
from hlsforge_api.v1alpha1 import (
    ConditionStatus,
    EncodingSettings,
    JobOptions,
    Phase,
    TranscodeJob,
    TranscodeJobSpec,
    TranscodeJobStatus,
)

EXAMPLE = Path(__file__).parents[2] / "deploy" / "examples" / "transcodejob.yaml"


def spec(**overrides: Any) -> dict[str, Any]:
    return {"source": "uploads/a.mp4", "output": "hls/a", **overrides}


def test_minimal_spec_gets_documented_defaults() -> None:
    parsed = TranscodeJobSpec.model_validate(spec())
    assert parsed.renditions is None
    assert parsed.segment_duration == 4
    assert parsed.segment_format == "ts"
    assert parsed.video.codec == "h264"
    assert parsed.audio.codec == "aac"
    assert parsed.audio.bitrate_kbps == 128
    assert parsed.source_policy == "DeleteOnSuccess"
    assert parsed.max_retries == 3
    assert parsed.thumbnails.poster is True
    assert parsed.thumbnails.sprite is None


def test_wire_format_is_camel_case_and_omits_unset() -> None:
    wire = TranscodeJobSpec.model_validate(spec(segmentFormat="fmp4")).to_wire()
    assert wire["segmentFormat"] == "fmp4"
    assert wire["sourcePolicy"] == "DeleteOnSuccess"
    assert "renditions" not in wire
    assert "segment_format" not in wire


def test_example_manifest_is_valid() -> None:
    job = TranscodeJob.model_validate(yaml.safe_load(EXAMPLE.read_text()))
    assert job.metadata.name == "big-buck-bunny"
    assert job.spec.renditions is not None
    assert [r.name for r in job.spec.renditions] == ["720p", "480p", "360p"]
    assert job.spec.resources is not None and job.spec.resources.limits is not None
    assert job.spec.resources.limits.ephemeral_storage == "10Gi"


@pytest.mark.parametrize(
    "location",
    [
        "uploads/a.mp4",
        "a.mp4",
        "uploads/2026/11/x_y-z.webm",
        "s3://media-bucket/uploads/a.mp4",
        "s3://my.bucket-01/a/b.mkv",
    ],
)
def test_accepted_locations(location: str) -> None:
    assert TranscodeJobSpec.model_validate(spec(source=location)).source == location


@pytest.mark.parametrize(
    "location",
    [
        "",
        "/etc/passwd",
        "../secret.mp4",
        "uploads/../../etc/passwd",
        "uploads/..",
        "uploads//a.mp4",
        "http://example.com/a.mp4",
        "file:///etc/passwd",
        "s3://UPPER/a.mp4",
        "s3://bucket",
        "s3://bucket/",
        "s3://bucket/../a.mp4",
        "uploads/a b.mp4",
        "-i.mp4",
        "x" * 1025,
    ],
)
def test_refused_locations(location: str) -> None:
    with pytest.raises(ValidationError):
        TranscodeJobSpec.model_validate(spec(source=location))


def test_output_must_differ_from_source() -> None:
    with pytest.raises(ValidationError, match="output must differ from source"):
        TranscodeJobSpec.model_validate(spec(output="uploads/a.mp4"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"segmentFormat": "webm"}, "segmentFormat"),
        ({"segmentDuration": 0}, "segmentDuration"),
        ({"segmentDuration": 31}, "segmentDuration"),
        ({"video": {"codec": "vp9"}}, "codec"),
        ({"video": {"codec": "h265"}}, "h265 requires segmentFormat fmp4"),
        ({"audio": {"bitrateKbps": 8}}, "bitrateKbps"),
        ({"sourcePolicy": "Delete"}, "sourcePolicy"),
        ({"maxRetries": -1}, "maxRetries"),
        ({"maxRetries": 11}, "maxRetries"),
        ({"activeDeadlineSeconds": 10}, "activeDeadlineSeconds"),
        ({"priority": 1000}, "priority"),
        ({"renditions": []}, "renditions"),
        ({"renditions": [{"name": "x", "height": 721, "videoBitrateKbps": 900}]}, "multiple"),
        ({"renditions": [{"name": "X Y", "height": 720, "videoBitrateKbps": 900}]}, "name"),
        ({"renditions": [{"name": "a", "height": 100, "videoBitrateKbps": 900}]}, "height"),
        ({"renditions": [{"name": "a", "height": 720, "videoBitrateKbps": 10}]}, "BitrateKbps"),
        (
            {
                "renditions": [
                    {"name": "a", "height": 720, "videoBitrateKbps": 3000, "maxBitrateKbps": 2000}
                ]
            },
            "maxBitrateKbps must not be below",
        ),
        (
            {
                "renditions": [
                    {"name": "a", "height": 720, "videoBitrateKbps": 3000},
                    {"name": "a", "height": 360, "videoBitrateKbps": 800},
                ]
            },
            "unique",
        ),
        ({"resources": {"limits": {"memory": "lots"}}}, "memory"),
        (
            {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
            "requests.memory exceeds resources.limits.memory",
        ),
        ({"unknownField": 1}, "unknownField"),
        ({"thumbnails": {"sprite": {"columns": 0}}}, "columns"),
    ],
)
def test_invalid_specs_are_refused_with_a_reason(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TranscodeJobSpec.model_validate(spec(**overrides))


def test_h265_with_fmp4_is_accepted() -> None:
    parsed = TranscodeJobSpec.model_validate(spec(video={"codec": "h265"}, segmentFormat="fmp4"))
    assert parsed.video.codec == "h265"


def test_job_name_length_is_bounded() -> None:
    body = {"metadata": {"name": "a" * 53}, "spec": spec()}
    with pytest.raises(ValidationError, match="at most 52"):
        TranscodeJob.model_validate(body)
    body["metadata"] = {"name": "a" * 52}
    assert TranscodeJob.model_validate(body).kind == "TranscodeJob"


def test_status_round_trips_through_the_wire() -> None:
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    status = TranscodeJobStatus(phase=Phase.RUNNING, progress=12.5, attempts=1, start_time=now)
    wire = status.to_wire()
    assert wire["phase"] == "Running"
    assert wire["startTime"] == "2026-11-25T08:00:00Z"
    assert TranscodeJobStatus.model_validate(wire) == status


def test_status_progress_is_bounded() -> None:
    with pytest.raises(ValidationError):
        TranscodeJobStatus(progress=100.5)


def test_final_phases() -> None:
    assert {p for p in Phase if p.is_final} == {Phase.SUCCEEDED, Phase.FAILED}


def test_set_condition_moves_transition_time_only_on_status_change() -> None:
    t0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    t1 = t0 + timedelta(minutes=1)
    t2 = t0 + timedelta(minutes=2)
    conds = conditions.set_condition(
        [], "Scheduled", ConditionStatus.TRUE, "JobCreated", "job created", t0, 1
    )
    conds = conditions.set_condition(
        conds, "Succeeded", ConditionStatus.FALSE, "Running", "", t0, 1
    )
    same = conditions.set_condition(
        conds, "Scheduled", ConditionStatus.TRUE, "JobRunning", "pod started", t1, 1
    )
    assert [c.type for c in same] == ["Scheduled", "Succeeded"]
    assert same[0].last_transition_time == t0
    assert same[0].reason == "JobRunning"
    flipped = conditions.set_condition(
        same, "Succeeded", ConditionStatus.TRUE, "OutputVerified", "done", t2, 1
    )
    assert flipped[1].last_transition_time == t2
    assert conditions.is_true(flipped, "Succeeded")
    assert not conditions.is_true(flipped, "Failed")


def test_exit_codes_split_into_retryable_and_final() -> None:
    assert set(NON_RETRYABLE) == {ExitCode.USAGE, ExitCode.INVALID_INPUT}
    assert ExitCode.STORAGE.retryable
    assert ExitCode.INVALID_INPUT.reason == "InvalidInput"
    assert len({c.reason for c in ExitCode}) == len(ExitCode)
    # Kubernetes reports signals as 128+N; no code of ours may be confused with one.
    assert all(c < 128 for c in ExitCode)


def test_quantities() -> None:
    from hlsforge_api.quantity import parse_quantity

    assert parse_quantity("500m") < parse_quantity("1") < parse_quantity("2")
    assert parse_quantity("1Gi") == 2**30
    assert parse_quantity("1G") == 10**9
    assert parse_quantity("1.5Gi") == parse_quantity("1536Mi")
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity("lots")


def test_the_spec_is_the_job_options_plus_where_things_go() -> None:
    """``JobOptions`` (what a client may choose, the uploader's options) is the spec's base;
    the spec's fields keep their order: encoding, locations, job options (the CRD's order)."""
    assert issubclass(TranscodeJobSpec, JobOptions)
    encoding = list(EncodingSettings.model_fields)
    options = list(JobOptions.model_fields)
    assert options[: len(encoding)] == encoding
    assert list(TranscodeJobSpec.model_fields) == [
        *encoding,
        "source",
        "output",
        *options[len(encoding) :],
    ]
    with pytest.raises(ValidationError):
        JobOptions.model_validate({"source": "uploads/a.mp4"})
