"""The local cluster does what the operator will rely on (issue 3).

Node Ready; a Job with a locally built image completes; a failing Job is retried per
backoffLimit and ends Failed; the garbage collector deletes an owned Job; pods reach the API
service and resolve service names; the TranscodeJob CRD installs and `kubectl get tj`
shows its printer columns.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

import pytest

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "hlsforge.local/base:bookworm"
TEST_IMAGE = "hlsforge-test/hello:1"


class KubeCluster(Protocol):
    """What the `kube_cluster` fixture (conftest.py) offers."""

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]: ...

    def apply(self, manifest: dict[str, Any], namespace: str | None = None) -> None: ...

    def get_json(self, *args: str) -> dict[str, Any]: ...

    def build_image(self, tag: str, context: Path, dockerfile: Path | None = None) -> None: ...


def job_manifest(
    name: str, image: str, command: list[str], backoff_limit: int = 0
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "hlsforge-it"}},
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": 300,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "command": command,
                        }
                    ],
                }
            },
        },
    }


def wait_job(kc: KubeCluster, ns: str, name: str, condition: str, timeout: int) -> None:
    done = kc.kubectl(
        "wait", "-n", ns, f"--for=condition={condition}", f"job/{name}", f"--timeout={timeout}s",
        check=False, timeout=timeout + 30,
    )  # fmt: skip
    if done.returncode != 0:
        pods = kc.kubectl("get", "pods", "-n", ns, "-o", "wide", check=False).stdout
        events = kc.kubectl("get", "events", "-n", ns, check=False).stdout
        pytest.fail(
            f"job {name} not {condition}: {done.stderr}\npods:\n{pods}\nevents:\n{events}",
            pytrace=False,
        )


def test_node_is_ready(kube_cluster: KubeCluster) -> None:
    nodes = kube_cluster.get_json("nodes")["items"]
    assert len(nodes) == 1
    conditions = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert conditions["Ready"] == "True", conditions


def test_job_with_locally_built_image_completes(
    kube_cluster: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f'FROM {BASE_IMAGE}\nRUN echo built-locally > /built.txt\nCMD ["cat", "/built.txt"]\n'
    )
    kube_cluster.build_image(TEST_IMAGE, tmp_path)
    job = job_manifest("hello", TEST_IMAGE, ["cat", "/built.txt"])
    kube_cluster.apply(job, namespace)
    wait_job(kube_cluster, namespace, "hello", "complete", 120)
    logs = kube_cluster.kubectl("logs", "-n", namespace, "job/hello").stdout
    assert logs.strip() == "built-locally"


def test_failing_job_is_retried_per_backoff_limit_then_failed(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    job = job_manifest("fails", BASE_IMAGE, ["sh", "-c", "exit 3"], backoff_limit=1)
    kube_cluster.apply(job, namespace)
    wait_job(kube_cluster, namespace, "fails", "failed", 180)
    status = kube_cluster.get_json("job", "fails", "-n", namespace)["status"]
    assert status.get("failed") == 2, status  # the first try plus backoffLimit=1 retry
    assert not status.get("succeeded"), status
    failed = [c for c in status["conditions"] if c["type"] == "Failed"]
    assert failed and failed[0]["reason"] == "BackoffLimitExceeded", status
    pods = kube_cluster.get_json("pods", "-n", namespace, "-l", "job-name=fails")["items"]
    codes = [
        s["state"]["terminated"]["exitCode"] for p in pods for s in p["status"]["containerStatuses"]
    ]
    assert codes == [3, 3], codes


def test_garbage_collector_deletes_owned_job(kube_cluster: KubeCluster, namespace: str) -> None:
    kube_cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = kube_cluster.get_json("configmap", "owner", "-n", namespace)["metadata"]["uid"]
    job = job_manifest("owned", BASE_IMAGE, ["sleep", "300"])
    job["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
    ]
    kube_cluster.apply(job, namespace)
    kube_cluster.get_json("job", "owned", "-n", namespace)
    kube_cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        got = kube_cluster.kubectl("get", "job", "owned", "-n", namespace, check=False)
        if got.returncode != 0 and "NotFound" in got.stderr:
            return
        time.sleep(1)
    pytest.fail("the garbage collector did not delete the Job owned by the deleted ConfigMap")


def test_pod_reaches_the_api_service(kube_cluster: KubeCluster, namespace: str) -> None:
    """kube-proxy DNATs the `kubernetes` ClusterIP to the apiserver (via the node address)."""
    script = (
        'exec 3<>"/dev/tcp/$KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT" '
        "&& echo connected && test -s /var/run/secrets/kubernetes.io/serviceaccount/token"
    )
    job = job_manifest("api", BASE_IMAGE, ["timeout", "20", "bash", "-c", script])
    kube_cluster.apply(job, namespace)
    wait_job(kube_cluster, namespace, "api", "complete", 120)
    assert kube_cluster.kubectl("logs", "-n", namespace, "job/api").stdout.strip() == "connected"


def test_pod_resolves_service_names(kube_cluster: KubeCluster, namespace: str) -> None:
    """CoreDNS on the node answers cluster names; the kubelet points pods at it."""
    script = "getent hosts kubernetes.default && getent hosts kubernetes.default.svc.cluster.local"
    job = job_manifest("dns", BASE_IMAGE, ["timeout", "20", "sh", "-c", script])
    kube_cluster.apply(job, namespace)
    wait_job(kube_cluster, namespace, "dns", "complete", 120)
    lines = kube_cluster.kubectl("logs", "-n", namespace, "job/dns").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["10.96.0.1", "10.96.0.1"], lines


def test_transcodejob_crd_and_example(kube_cluster: KubeCluster, namespace: str) -> None:
    crds = REPO / "deploy" / "crds"
    example = REPO / "deploy" / "examples" / "transcodejob.yaml"
    kube_cluster.kubectl("apply", "-f", str(crds))
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "crd/transcodejobs.hlsforge.io", "--timeout=60s"
    )
    kube_cluster.kubectl("apply", "-n", namespace, "-f", str(example))
    out = kube_cluster.kubectl("get", "tj", "-n", namespace).stdout
    header = out.splitlines()[0].split()
    for column in ("NAME", "PHASE", "PROGRESS", "ATTEMPTS", "AGE"):
        assert column in header, out
    assert len(out.splitlines()) >= 2, out
