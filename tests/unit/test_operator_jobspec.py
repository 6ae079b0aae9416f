"""The Job manifest built for a TranscodeJob: hardened pod, retries with meaning, ownership."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hlsforge_api.v1alpha1 import EncodingSettings, TranscodeJobSpec
from hlsforge_operator import jobspec, names
from hlsforge_operator.settings import OperatorSettings
from hlsforge_storage.s3config import S3Config

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
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    # The pod never sees the media volume whole: its source alone, read-only, and its own
    # work folder (named by the TranscodeJob's UID).
    assert mounts == {
        "/media/source/a.mp4": {
            "name": "media",
            "mountPath": "/media/source/a.mp4",
            "subPath": "up/a.mp4",
            "readOnly": True,
        },
        "/media/work": {
            "name": "media",
            "mountPath": "/media/work",
            "subPath": ".hlsforge/work/uid-1",
        },
        "/tmp": {"name": "scratch", "mountPath": "/tmp"},
    }
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
    assert (src, dest) == ("/media/source/a.mp4", "/media/work/out")
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


S3 = S3Config(endpoint="http://s3.media.svc:7070", addressing="path", region="eu-west-1")


def build_s3(settings: OperatorSettings = SETTINGS, **spec: Any) -> dict[str, Any]:
    parsed = TranscodeJobSpec.model_validate(
        {"source": "s3://media/up/a.mp4", "output": "s3://media/hls/a", **spec}
    )
    return jobspec.build_job("clip", "media-ns", "uid-1", parsed, settings, S3)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


def test_s3_job_keeps_every_s3_setting_and_key_out_of_the_transcoder_container() -> None:
    settings = SETTINGS.model_copy(update={"s3_credentials_secret": "s3-creds"})
    pod = pod_spec(build_s3(settings))
    (container,) = pod["containers"]
    assert container["name"] == names.CONTAINER
    assert container["args"][-2:] == ["s3://media/up/a.mp4", "s3://media/hls/a"]
    assert [v["name"] for v in pod["volumes"]] == ["scratch", "publisher"]
    assert container["volumeMounts"] == [
        {"name": "scratch", "mountPath": "/tmp"},
        {"name": "publisher", "mountPath": "/run/hlsforge", "readOnly": True},
    ]
    env = env_of(container)
    assert not [name for name in env if name.startswith(("AWS_", "HLSFORGE_S3_"))], env
    assert not [e for e in env.values() if "valueFrom" in e]
    assert env["HLSFORGE_PUBLISHER_SOCKET"]["value"] == "/run/hlsforge/publisher.sock"
    assert pod["automountServiceAccountToken"] is False
    # On EKS the identity webhook must leave the transcoder container alone.
    annotations = build_s3(settings)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/skip-containers"] == names.CONTAINER


def test_s3_job_runs_the_publisher_as_a_hardened_native_sidecar_with_the_keys() -> None:
    settings = SETTINGS.model_copy(update={"s3_credentials_secret": "s3-creds"})
    pod = pod_spec(build_s3(settings))
    (publisher,) = pod["initContainers"]
    assert publisher["name"] == "publisher" and publisher["restartPolicy"] == "Always"
    assert publisher["image"] == "hlsforge/transcoder:test"
    assert publisher["command"] == ["python3", "-P", "-m", "hlsforge_transcoder.publisher"]
    assert publisher["args"] == [
        "--socket", "/run/hlsforge/publisher.sock", "--scratch", "/tmp", "--allowed-uid",
        str(jobspec.RUN_AS), "--source", "s3://media/up/a.mp4", "--output", "s3://media/hls/a",
    ]  # fmt: skip
    assert publisher["workingDir"] == "/run/hlsforge"  # never the shared, writable scratch
    sc = publisher["securityContext"]
    assert sc["runAsUser"] == jobspec.PUBLISHER_UID != pod["securityContext"]["runAsUser"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert publisher["startupProbe"]["exec"]["command"][-1] == "/run/hlsforge/publisher.sock"
    env = env_of(publisher)
    assert env["HOME"]["value"] == "/run/hlsforge"
    assert env["HLSFORGE_S3_ENDPOINT"]["value"] == "http://s3.media.svc:7070"
    assert env["HLSFORGE_S3_REGION"]["value"] == "eu-west-1"
    assert env["HLSFORGE_S3_ADDRESSING"]["value"] == "path"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in env[key]  # by reference only: no key in the Job object
        assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "s3-creds", "key": key}}
    # The failure policy still reads the transcoder's exit codes, not the sidecar's.
    rule = build_s3(settings)["spec"]["podFailurePolicy"]["rules"][0]
    assert rule["onExitCodes"]["containerName"] == names.CONTAINER


def test_s3_job_without_secret_uses_the_default_chain_and_pod_endpoint_override() -> None:
    settings = SETTINGS.model_copy(update={"s3_transcoder_endpoint": "http://10.0.0.5:7070"})
    (publisher,) = pod_spec(build_s3(settings))["initContainers"]
    env = env_of(publisher)
    assert "AWS_ACCESS_KEY_ID" not in env
    assert env["HLSFORGE_S3_ENDPOINT"]["value"] == "http://10.0.0.5:7070"


def test_mixed_locations_mount_the_volume_and_publish_through_the_publisher() -> None:
    parsed = TranscodeJobSpec.model_validate({"source": "up/a.mp4", "output": "s3://media/hls/a"})
    pod = pod_spec(jobspec.build_job("clip", "ns", "uid", parsed, SETTINGS, S3))
    (container,) = pod["containers"]
    assert container["args"][-2:] == ["/media/source/a.mp4", "s3://media/hls/a"]
    assert {v["name"] for v in pod["volumes"]} == {"media", "scratch", "publisher"}
    assert [m.get("subPath") for m in container["volumeMounts"]] == ["up/a.mp4", None, None]
    assert "HLSFORGE_S3_ENDPOINT" not in env_of(container)
    (publisher,) = pod["initContainers"]
    assert publisher["args"][-2:] == ["--output", "s3://media/hls/a"]  # no source to grant
    assert "media" not in {m["name"] for m in publisher["volumeMounts"]}


def test_volume_jobs_have_no_publisher() -> None:
    pod = pod_spec(build())
    assert "initContainers" not in pod
    assert "annotations" not in build()["spec"]["template"]["metadata"]


def test_volume_job_on_an_s3_only_platform_is_refused() -> None:
    s3_only = SETTINGS.model_copy(update={"media_pvc": ""})
    parsed = TranscodeJobSpec.model_validate({"source": "up/a.mp4", "output": "hls/a"})
    assert jobspec.unsupported(parsed, s3_only) is not None
    with pytest.raises(ValueError, match="no media volume"):
        jobspec.build_job("clip", "ns", "uid", parsed, s3_only, S3)
    assert jobspec.unsupported(parsed, SETTINGS) is None
    assert build_s3(s3_only)["kind"] == "Job"
