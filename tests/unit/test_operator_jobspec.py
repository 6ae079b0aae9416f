"""The Job manifest built for a TranscodeJob: hardened pod, retries with meaning, ownership."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hlsforge_api.v1alpha1 import EncodingSettings, TranscodeJobSpec
from hlsforge_operator import jobspec, names
from hlsforge_operator.settings import OperatorSettings

SETTINGS = OperatorSettings(
    transcoder_image="hlsforge/transcoder:test",
    media_pvc="media",
    default_memory_limit="3Gi",
)


def build(**spec: Any) -> dict[str, Any]:
    parsed = TranscodeJobSpec.model_validate({"source": "up/a.mp4", "output": "hls/a", **spec})
    return jobspec.build_job("clip", "media-ns", "uid-1", parsed, SETTINGS)


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = job["spec"]["template"]["spec"]
    return result


def test_job_is_named_labelled_and_owned() -> None:
    job = build()
    meta = job["metadata"]
    assert meta["name"] == "clip-transcode"
    assert meta["namespace"] == "media-ns"
    assert meta["labels"][names.LABEL_JOB] == "clip"
    assert meta["labels"][names.LABEL_MANAGED_BY] == names.MANAGED_BY
    assert job["spec"]["template"]["metadata"]["labels"] == meta["labels"]
    (owner,) = meta["ownerReferences"]
    assert owner == {
        "apiVersion": "hlsforge.io/v1alpha1",
        "kind": "TranscodeJob",
        "name": "clip",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_pod_is_hardened() -> None:
    pod = pod_spec(build())
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/data": "media", "/tmp": "scratch"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["media"]["persistentVolumeClaim"] == {"claimName": "media"}
    assert volumes["scratch"]["emptyDir"]["sizeLimit"] == SETTINGS.scratch_size_limit


def test_retries_follow_exit_codes() -> None:
    spec = build(maxRetries=5, activeDeadlineSeconds=900)["spec"]
    assert spec["backoffLimit"] == 5
    assert spec["activeDeadlineSeconds"] == 900
    assert spec["podReplacementPolicy"] == "Failed"
    fail_job, ignore = spec["podFailurePolicy"]["rules"]
    assert fail_job["action"] == "FailJob"
    assert fail_job["onExitCodes"] == {
        "containerName": "transcoder",
        "operator": "In",
        "values": [2, 3],
    }
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}


def test_container_gets_encoding_settings_and_volume_paths() -> None:
    job = build(segmentFormat="fmp4", audio={"codec": "none"}, priority=7)
    (container,) = pod_spec(job)["containers"]
    assert container["image"] == "hlsforge/transcoder:test"
    flag, settings_json, src, dest = container["args"]
    assert flag == "--settings-json"
    assert (src, dest) == ("/data/up/a.mp4", "/data/hls/a")
    settings = EncodingSettings.model_validate(json.loads(settings_json))
    assert settings.segment_format == "fmp4"
    assert settings.audio.codec == "none"
    # Only encoding settings go to the pod: no scheduling fields, no locations.
    wire_names = {f.alias for f in EncodingSettings.model_fields.values()}
    assert set(json.loads(settings_json)) <= wire_names


@pytest.mark.parametrize(
    ("resources", "expected_limits"),
    [
        (None, {"cpu": "2", "memory": "3Gi", "ephemeral-storage": "20Gi"}),
        (
            {"limits": {"memory": "8Gi", "ephemeral-storage": "50Gi"}},
            {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "50Gi"},
        ),
    ],
)
def test_resources_merge_spec_over_defaults(
    resources: dict[str, Any] | None, expected_limits: dict[str, str]
) -> None:
    job = build(resources=resources) if resources else build()
    (container,) = pod_spec(job)["containers"]
    assert container["resources"]["limits"] == expected_limits
    # An explicit ephemeral-storage request: otherwise the limit becomes the request.
    assert container["resources"]["requests"] == {
        "cpu": "1",
        "memory": "1Gi",
        "ephemeral-storage": "1Gi",
    }


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        # A given limit below the default request lowers the request (else: pod refused).
        (
            {"limits": {"cpu": "500m", "ephemeral-storage": "512Mi"}},
            {"cpu": ("500m", "500m"), "ephemeral-storage": ("512Mi", "512Mi")},
        ),
        # A given request above the default limit raises the limit.
        ({"requests": {"memory": "8Gi"}}, {"memory": ("8Gi", "8Gi")}),
        # Consistent values pass through untouched.
        ({"requests": {"cpu": "250m"}}, {"cpu": ("250m", "2")}),
    ],
)
def test_defaults_never_contradict_the_spec(
    resources: dict[str, Any], expected: dict[str, tuple[str, str]]
) -> None:
    (container,) = pod_spec(build(resources=resources))["containers"]
    for name, (request, limit) in expected.items():
        assert container["resources"]["requests"][name] == request
        assert container["resources"]["limits"][name] == limit


def test_job_names_are_deterministic_and_bounded() -> None:
    assert names.job_name("a" * 52) == "a" * 52 + "-transcode"
    assert len(names.job_name("a" * 52)) <= 63
    with pytest.raises(ValueError, match="longer than 52"):
        names.job_name("a" * 53)
