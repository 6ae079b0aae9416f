"""Build the batch/v1 Job that runs one TranscodeJob: a pure function of the spec and settings.

The pod runs untrusted media through ffmpeg, so it is the sandbox (SECURITY.md): non-root,
read-only root filesystem with a bounded emptyDir for scratch, every capability dropped,
seccomp RuntimeDefault, no service-account token, no service links.

Retries follow the transcoder's exit codes: invalid input fails the Job at once, a pod that
was disrupted (evicted, drained, preempted) does not count against ``backoffLimit``, and
``podReplacementPolicy: Failed`` keeps two attempts from running at once.
"""

from __future__ import annotations

import json
import posixpath
from posixpath import join as posix_join
from typing import Any

from hlsforge_api.exitcodes import NON_RETRYABLE
from hlsforge_api.pod import SOCKET_ENV, TEST_PAUSE_ENV, WORK_OUTPUT
from hlsforge_api.quantity import parse_quantity
from hlsforge_api.v1alpha1 import EncodingSettings, ResourceList, TranscodeJobSpec
from hlsforge_operator import names
from hlsforge_operator.settings import OperatorSettings
from hlsforge_storage.locations import is_s3
from hlsforge_storage.s3config import S3Config

RUN_AS = 10001
SCRATCH = "/tmp"  # noqa: S108 - an emptyDir mounted there, private to the pod

_ENCODING_FIELDS = tuple(EncodingSettings.model_fields)


def encoding_settings_json(spec: TranscodeJobSpec) -> str:
    """The part of the spec the transcoder needs, as compact camelCase JSON."""
    settings = EncodingSettings.model_validate(spec.model_dump(include=set(_ENCODING_FIELDS)))
    return json.dumps(settings.to_wire(), separators=(",", ":"), sort_keys=True)


def _given(resources: ResourceList | None) -> dict[str, str]:
    return resources.model_dump(by_alias=True, exclude_none=True) if resources else {}


def resources(spec: TranscodeJobSpec, settings: OperatorSettings) -> dict[str, dict[str, str]]:
    """The spec's requests and limits over the settings' defaults.

    A default never contradicts what the spec gives: a default request above a given limit
    drops to that limit, and a default limit below a given request rises to it (a pod whose
    request exceeds its limit is refused by the API server). The models refuse a spec whose
    own request exceeds its own limit.
    """
    given = spec.resources
    spec_requests = _given(given.requests if given else None)
    spec_limits = _given(given.limits if given else None)
    requests = {
        "cpu": settings.default_cpu_request,
        "memory": settings.default_memory_request,
        "ephemeral-storage": settings.default_ephemeral_storage_request,
    } | spec_requests
    limits = {
        "cpu": settings.default_cpu_limit,
        "memory": settings.default_memory_limit,
        "ephemeral-storage": settings.default_ephemeral_storage_limit,
    } | spec_limits
    for name in requests.keys() & limits.keys():
        if parse_quantity(requests[name]) > parse_quantity(limits[name]):
            if name in spec_requests:
                limits[name] = requests[name]
            else:
                requests[name] = limits[name]
    return {"requests": requests, "limits": limits}


SOURCE_MOUNT = "/media/source"
WORK_MOUNT = "/media/work"
"""The pod never sees the media volume as a whole: a volume source is mounted alone and
read-only, and a volume output is written into the job's own work folder
(``<work_dir>/<uid>``), which the operator verifies and then moves to the output location."""


def work_folder(settings: OperatorSettings, uid: str) -> str:
    """The job's work folder on the media volume (relative to its root)."""
    return posix_join(settings.work_dir.rstrip("/"), uid)


def source_arg(spec: TranscodeJobSpec) -> str:
    """The source as the transcoder sees it: an S3 URI as is, or the lone file mounted."""
    if is_s3(spec.source):
        return spec.source
    return posix_join(SOURCE_MOUNT, posixpath.basename(spec.source.rstrip("/")))


def output_arg(spec: TranscodeJobSpec) -> str:
    """The output as the transcoder sees it: an S3 URI as is, or its work folder's ``out``."""
    return spec.output if is_s3(spec.output) else posix_join(WORK_MOUNT, WORK_OUTPUT)


def media_mounts(spec: TranscodeJobSpec, settings: OperatorSettings, uid: str) -> list[Any]:
    """subPath mounts of the media volume: exactly the source (read-only) and the work folder."""
    mounts: list[dict[str, Any]] = []
    if not is_s3(spec.source):
        mounts.append(
            {"name": "media", "mountPath": source_arg(spec), "subPath": spec.source,
             "readOnly": True}
        )  # fmt: skip
    if not is_s3(spec.output):
        mounts.append(
            {"name": "media", "mountPath": WORK_MOUNT, "subPath": work_folder(settings, uid)}
        )
    return mounts


def uses_volume(spec: TranscodeJobSpec) -> bool:
    return not (is_s3(spec.source) and is_s3(spec.output))


def uses_s3(spec: TranscodeJobSpec) -> bool:
    return is_s3(spec.source) or is_s3(spec.output)


def unsupported(spec: TranscodeJobSpec, settings: OperatorSettings) -> str | None:
    """Why this platform cannot run ``spec`` although the spec itself is valid, or None."""
    if uses_volume(spec) and not settings.media_pvc:
        return "this platform has no media volume: source and output must be s3:// URIs"
    return None


PUBLISHER = "publisher"
PUBLISHER_UID = 10002
"""The publisher's own uid: the transcoder container (``RUN_AS``) cannot read its
``/proc/<pid>/environ`` (nor see its processes: the pod shares no process namespace)."""
PUBLISHER_DIR = "/run/hlsforge"
"""The publisher's own emptyDir: its socket, home and working directory. The transcoder
container mounts it read-only, so it can connect but never replace the socket or plant files
that the publisher's Python or boto3 would load (the shared scratch is writable by both)."""
PUBLISHER_SOCKET = f"{PUBLISHER_DIR}/publisher.sock"
PUBLISHER_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "96Mi", "ephemeral-storage": "16Mi"},
    "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"},
}
SKIP_IRSA = "eks.amazonaws.com/skip-containers"
"""EKS's pod identity webhook injects the role's credentials into every container but these."""


def s3_env(settings: OperatorSettings, s3: S3Config) -> list[dict[str, Any]]:
    """How the publisher reaches S3: the settings as values, credentials only by Secret
    reference (or IRSA)."""
    values = s3.to_env()
    if settings.s3_transcoder_endpoint:
        values["HLSFORGE_S3_ENDPOINT"] = settings.s3_transcoder_endpoint
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(values.items())]
    env.append({"name": "AWS_EC2_METADATA_DISABLED", "value": "true"})
    if settings.s3_credentials_secret:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ref = {"name": settings.s3_credentials_secret, "key": key}
            env.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
    return env


def publisher_container(
    spec: TranscodeJobSpec, settings: OperatorSettings, s3: S3Config | None
) -> dict[str, Any]:
    """The native sidecar (an init container that keeps running) that alone holds the S3
    settings and keys, serving the transcoder's requests for this job's one source and one
    output. Kubernetes stops it once the transcoder container has exited, so it never keeps
    the Job from completing; ``python3 -P`` and a private working directory keep it from
    importing anything from the shared scratch."""
    args = ["--socket", PUBLISHER_SOCKET, "--scratch", SCRATCH, "--allowed-uid", str(RUN_AS)]
    args += ["--source", spec.source] if is_s3(spec.source) else []
    args += ["--output", spec.output] if is_s3(spec.output) else []
    env = [
        {"name": "HOME", "value": PUBLISHER_DIR},
        {"name": "TMPDIR", "value": PUBLISHER_DIR},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        {"name": "PYTHONSAFEPATH", "value": "1"},
        *s3_env(settings, s3 or S3Config()),
    ]
    return {
        "name": PUBLISHER,
        "image": settings.transcoder_image,
        "imagePullPolicy": settings.image_pull_policy,
        "restartPolicy": "Always",
        "command": ["python3", "-P", "-m", "hlsforge_transcoder.publisher"],
        "args": args,
        "workingDir": PUBLISHER_DIR,
        "env": env,
        "resources": PUBLISHER_RESOURCES,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": PUBLISHER_UID,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # The transcoder starts only once the socket accepts (it also waits, as a fallback).
        "startupProbe": {
            "exec": {"command": ["/usr/bin/test", "-S", PUBLISHER_SOCKET]},
            "periodSeconds": 1,
            "failureThreshold": 120,
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "scratch", "mountPath": SCRATCH},
            {"name": PUBLISHER, "mountPath": PUBLISHER_DIR},
        ],
    }


def pod_failure_policy() -> dict[str, Any]:
    return {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": names.CONTAINER,
                    "operator": "In",
                    "values": sorted(int(code) for code in NON_RETRYABLE),
                },
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }


def _container(
    spec: TranscodeJobSpec, settings: OperatorSettings, s3: S3Config | None, uid: str
) -> dict[str, Any]:
    env = [
        {"name": "HOME", "value": SCRATCH},
        {"name": "TMPDIR", "value": SCRATCH},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    if uses_s3(spec):  # S3 through the publisher: no S3 setting and no key here
        env.append({"name": SOCKET_ENV, "value": PUBLISHER_SOCKET})
    if settings.test_pause:  # fault tests only
        env.append({"name": TEST_PAUSE_ENV, "value": settings.test_pause})
    mounts = [*media_mounts(spec, settings, uid), {"name": "scratch", "mountPath": SCRATCH}]
    if uses_s3(spec):
        mounts.append({"name": PUBLISHER, "mountPath": PUBLISHER_DIR, "readOnly": True})
    return {
        "name": names.CONTAINER,
        "image": settings.transcoder_image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": [
            "--settings-json",
            encoding_settings_json(spec),
            source_arg(spec),
            output_arg(spec),
        ],
        "env": env,
        "resources": resources(spec, settings),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }


def build_job(
    name: str,
    namespace: str,
    uid: str,
    spec: TranscodeJobSpec,
    settings: OperatorSettings,
    s3: S3Config | None = None,
) -> dict[str, Any]:
    """The Job for TranscodeJob ``namespace/name``; owned by it so deleting it deletes the Job.

    Raises ``ValueError`` when the spec names a volume path and the operator has no volume.
    """
    refusal = unsupported(spec, settings)
    if refusal is not None:
        raise ValueError(refusal)
    labels = names.labels(name)
    volumes: list[dict[str, Any]] = [
        {"name": "scratch", "emptyDir": {"sizeLimit": settings.scratch_size_limit}}
    ]
    if uses_volume(spec):
        claim = {"claimName": settings.media_pvc}
        volumes.insert(0, {"name": "media", "persistentVolumeClaim": claim})
    template: dict[str, Any] = {"labels": labels}
    publisher: dict[str, Any] = {}
    if uses_s3(spec):
        volumes.append({"name": PUBLISHER, "emptyDir": {"sizeLimit": "16Mi"}})
        template["annotations"] = {
            SKIP_IRSA: names.CONTAINER,
            "kubectl.kubernetes.io/default-container": names.CONTAINER,
        }
        publisher["initContainers"] = [publisher_container(spec, settings, s3)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": names.job_name(name),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "hlsforge.io/v1alpha1",
                    "kind": "TranscodeJob",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": spec.max_retries,
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "completions": 1,
            "parallelism": 1,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": pod_failure_policy(),
            "template": {
                "metadata": template,
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": settings.transcoder_service_account,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "fsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container(spec, settings, s3, uid)],
                    "volumes": volumes,
                    **publisher,
                },
            },
        },
    }
