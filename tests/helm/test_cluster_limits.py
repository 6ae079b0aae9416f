"""The chart's ValidatingAdmissionPolicy on the real API server: ``kubectl apply`` of a
TranscodeJob beyond a per-job maximum is refused with a message naming the field, one within
them is stored, an older job keeps taking writes that leave its fields alone, and namespaces
the operator does not watch are left alone. No release: only the policy and its binding are
applied (cluster-scoped, with names unique to this run, deleted afterwards)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helm.chart import CHART, REPO
from tests.integration.conftest import KubeCluster

pytestmark = pytest.mark.cluster

LIMITS = {
    "jobLimits.cpu": "2",
    "jobLimits.memory": "4Gi",
    "jobLimits.ephemeralStorage": "10Gi",
    "jobLimits.deadlineSeconds": "7200",
    "jobLimits.retries": "4",
    "jobLimits.priority": "50",
    "jobLimits.httpPriority": "5",
}


def tj(name: str, **spec: Any) -> str:
    body = {
        "apiVersion": "hlsforge.io/v1alpha1",
        "kind": "TranscodeJob",
        "metadata": {"name": name},
        "spec": {"source": f"uploads/{name}.mp4", "output": f"hls/{name}", **spec},
    }
    return json.dumps(body)


def apply(cluster: KubeCluster, namespace: str, body: str) -> tuple[bool, str]:
    done = cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=body, check=False)
    return done.returncode == 0, done.stderr


@contextlib.contextmanager
def policy_in_force(kube_cluster: KubeCluster, namespace: str) -> Iterator[str]:
    """The rendered policy and binding for a release in ``namespace``, applied and in force;
    deleted on exit."""
    kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", f"{REPO}/deploy/crds")
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "crd/transcodejobs.hlsforge.io", "--timeout=60s"
    )
    sets = [arg for key, value in LIMITS.items() for arg in ("--set", f"{key}={value}")]
    rendered = kube_cluster.helm(
        *("template", f"lim{os.getpid()}", str(CHART), "--namespace", namespace, *sets),
        *("--show-only", "templates/admissionpolicy-joblimits.yaml"),
    ).stdout
    kube_cluster.kubectl("apply", "-f", "-", stdin=rendered)
    try:
        # The API server picks a new policy up within a second or two: wait until it bites.
        probe = tj("probe", priority=99)
        deadline = time.monotonic() + 30
        while True:
            done = kube_cluster.kubectl(
                *("create", "--dry-run=server", "-n", namespace, "-f", "-"),
                stdin=probe,
                check=False,
            )
            if done.returncode != 0:
                break
            assert time.monotonic() < deadline, "the policy never came into force"
            time.sleep(0.5)
        yield namespace
    finally:
        kube_cluster.kubectl("delete", "--ignore-not-found", "-f", "-", stdin=rendered, check=False)


@pytest.fixture
def policy(kube_cluster: KubeCluster, namespace: str) -> Iterator[str]:
    with policy_in_force(kube_cluster, namespace) as ns:
        yield ns


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"resources": {"requests": {"cpu": "2500m"}}},
            "spec.resources.requests.cpu: 2500m is above this platform's maximum of 2 per job",
        ),
        (
            {"resources": {"limits": {"memory": "5Gi"}}},
            "spec.resources.limits.memory: 5Gi is above this platform's maximum of 4Gi per job",
        ),
        (
            {"resources": {"limits": {"ephemeral-storage": "11Gi"}}},
            "spec.resources.limits.ephemeral-storage: 11Gi is above",
        ),
        (
            {"resources": {"requests": {"ephemeral-storage": "10241Mi"}}},
            "spec.resources.requests.ephemeral-storage: 10241Mi is above",
        ),
        ({"activeDeadlineSeconds": 7201}, "spec.activeDeadlineSeconds: 7201 is above"),
        ({"maxRetries": 5}, "spec.maxRetries: 5 is above this platform's maximum of 4"),
        ({"priority": 51}, "spec.priority: 51 is above this platform's maximum of 50 per job"),
    ],
    ids=[
        "cpu",
        "memory",
        "ephemeral-storage",
        "ephemeral-request",
        "deadline",
        "retries",
        "priority",
    ],
)
def test_kubectl_apply_beyond_a_maximum_is_refused_naming_the_field(
    kube_cluster: KubeCluster, policy: str, spec: dict[str, Any], message: str
) -> None:
    accepted, stderr = apply(kube_cluster, policy, tj("over", **spec))
    assert not accepted
    assert "denied request" in stderr and message in stderr, stderr
    assert kube_cluster.kubectl("get", "tj", "over", "-n", policy, check=False).returncode != 0


def test_a_job_at_every_maximum_is_stored(kube_cluster: KubeCluster, policy: str) -> None:
    spec = {
        "resources": {
            "requests": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "10Gi"},
            "limits": {"cpu": "2000m", "memory": "4096Mi", "ephemeral-storage": "10Gi"},
        },
        "activeDeadlineSeconds": 7200,
        "maxRetries": 4,
        "priority": 50,  # kubectl's ceiling, above HTTP's 5
    }
    accepted, stderr = apply(kube_cluster, policy, tj("within", **spec))
    assert accepted, stderr
    stored = kube_cluster.get_json("tj", "within", "-n", policy)["spec"]
    assert (stored["priority"], stored["resources"]["limits"]["cpu"]) == (50, "2000m")


def test_an_older_job_beyond_a_new_maximum_takes_writes_that_leave_it_alone(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    """Stored before the policy (or before a limit was lowered): the operator's finalizer
    and annotation writes still pass; raising the field further does not."""
    accepted, stderr = apply(kube_cluster, namespace, tj("older", priority=90))
    assert accepted, stderr
    with policy_in_force(kube_cluster, namespace):
        patch = ["patch", "tj", "older", "-n", namespace, "--type=merge", "-p"]
        kept = kube_cluster.kubectl(
            *patch, json.dumps({"metadata": {"annotations": {"hlsforge.io/x": "y"}}}), check=False
        )
        assert kept.returncode == 0, kept.stderr
        raised = kube_cluster.kubectl(*patch, json.dumps({"spec": {"priority": 95}}), check=False)
        assert raised.returncode != 0
        assert "spec.priority: 95 is above this platform's maximum of 50" in raised.stderr


def test_namespaces_the_operator_does_not_watch_are_left_alone(
    kube_cluster: KubeCluster, policy: str
) -> None:
    other = kube_cluster.create_namespace("limo")
    accepted, stderr = apply(kube_cluster, other, tj("elsewhere", priority=99))
    assert accepted, stderr
