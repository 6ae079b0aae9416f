"""Admission: the pure checks that refuse a TranscodeJob as InvalidSpec before any claim."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hlsforge_api.job_limits import JobLimits
from hlsforge_api.v1alpha1 import Resources, TranscodeJobSpec
from hlsforge_operator.admission import areas, refusal
from hlsforge_operator.settings import OperatorSettings


def spec(source: str, output: str) -> TranscodeJobSpec:
    return TranscodeJobSpec(source=source, output=output)


def test_the_areas_follow_the_settings() -> None:
    where = areas(
        OperatorSettings(namespace="ns", uploads_dir="in", output_dir="out", s3_bucket="media")
    )
    assert (where.sources, where.outputs, where.buckets) == ("in", "out", frozenset({"media"}))
    assert not where.per_namespace
    assert areas(OperatorSettings(namespace=None)).per_namespace
    assert areas(OperatorSettings(namespace="ns")).buckets == frozenset()


def test_a_namespaced_operator_accepts_its_areas_only() -> None:
    settings = OperatorSettings(namespace="media", s3_bucket="media")
    where = areas(settings)
    assert refusal(spec("uploads/a.mp4", "hls/a"), "media", settings, where) is None
    assert (
        refusal(spec("s3://media/uploads/a", "s3://media/hls/a"), "media", settings, where) is None
    )
    message = refusal(spec("hls/b/720p/seg_00001.ts", "hls/a"), "media", settings, where)
    assert message is not None and "sources area" in message


def test_a_cluster_wide_operator_keeps_namespaces_and_the_volume_apart() -> None:
    settings = OperatorSettings(namespace=None, pod_namespace="hlsforge", s3_bucket="media")
    where = areas(settings)
    own = spec("uploads/hlsforge/a.mp4", "hls/hlsforge/a")
    assert refusal(own, "hlsforge", settings, where) is None
    other = spec("uploads/team/a.mp4", "hls/team/a")
    message = refusal(other, "team", settings, where)
    assert message is not None and "only in namespace 'hlsforge'" in message
    on_s3 = spec("s3://media/uploads/team/a.mp4", "s3://media/hls/team/a")
    assert refusal(on_s3, "team", settings, where) is None
    stolen = spec("s3://media/uploads/hlsforge/a.mp4", "s3://media/hls/team/a")
    message = refusal(stolen, "team", settings, where)
    assert message is not None and "below uploads/team/" in message


@pytest.mark.parametrize(
    ("source", "output"),
    [("uploads/a", "uploads/a/b"), ("hls/x/y.mp4", "hls/x")],
)
def test_source_and_output_may_not_nest(source: str, output: str) -> None:
    with pytest.raises(ValueError, match="inside one another"):
        spec(source, output)


@pytest.mark.parametrize(
    ("namespace", "many"), [(None, True), ("media", False), ("team-*", True), ("a,b", True)]
)
def test_a_pattern_watches_many_namespaces(namespace: str | None, many: bool) -> None:
    settings = OperatorSettings(namespace=namespace)
    assert settings.watches_many is many
    assert areas(settings).per_namespace is many


def test_a_spec_beyond_the_job_limits_is_refused_naming_each_field() -> None:
    limits = JobLimits(cpu="2", memory="4Gi", deadline_seconds=7200, retries=3, priority=20)
    settings = OperatorSettings(namespace="media", job_limits=limits)
    where = areas(settings)
    within = TranscodeJobSpec.model_validate(
        {
            "source": "uploads/a.mp4",
            "output": "hls/a",
            "priority": 20,
            "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        }
    )
    assert refusal(within, "media", settings, where) is None
    beyond = within.model_copy(
        update={
            "priority": 21,
            "max_retries": 4,
            "resources": Resources.model_validate({"limits": {"memory": "5Gi"}}),
        }
    )
    message = refusal(beyond, "media", settings, where)
    assert message is not None
    assert message.startswith("spec.resources.limits.memory: 5Gi is above")
    assert "; spec.maxRetries: 4 is above" in message
    assert "; spec.priority: 21 is above this platform's maximum of 20" in message


def test_default_resources_beyond_the_job_limits_stop_the_operator_at_start() -> None:
    with pytest.raises(ValidationError, match=r"resources\.limits\.memory: 4Gi is above"):
        OperatorSettings(job_limits=JobLimits(memory="2Gi"))
    assert OperatorSettings(job_limits=JobLimits(memory="4Gi")).job_limits.memory == "4Gi"
