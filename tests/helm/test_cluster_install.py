"""A real install on the local cluster that uploads through the uploader Service, transcodes in a
pod of the transcoder image under the `restricted` Pod Security Standard, plays the HLS back,
passes `helm test`, survives an upgrade, proves RBAC denials, and leaves nothing behind on
uninstall."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helm.chart import CHART
from tests.helm.release import (
    FULLNAME,
    RELEASE,
    TAG,
    answers,
    can_i,
    get,
    installed,
    peers,
    read_token,
    upload,
    uploader_forward,
)
from tests.integration.conftest import KubeCluster
from tests.integration.harness import make_clip, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture
def release(kube_cluster: KubeCluster, images: str) -> Iterator[str]:
    with installed(kube_cluster, images, "hchart") as ns:
        yield ns


def test_install_upload_play_helm_test_rbac_and_uninstall(
    kube_cluster: KubeCluster, release: str, tmp_path: Path
) -> None:
    ns = release
    token = read_token(kube_cluster, ns)
    assert len(token) == 40

    # Two operator replicas peer: both appear in the KopfPeering, exactly one is active.
    wait_for("two operator peers", lambda: len(peers(kube_cluster, ns)) == 2, timeout=90)

    forward = uploader_forward(kube_cluster, ns)
    try:
        wait_for(
            "the uploader through port-forward",
            lambda: answers(f"{forward.url}/v1/jobs", token),
            timeout=60,
        )
        assert get(f"{forward.url}/v1/jobs", "wrong-token")[0] == 401
        clip = make_clip(tmp_path / "clip.mp4", seconds=3)
        started = time.monotonic()
        job_id = upload(forward, token, clip)
        print(f"upload -> Succeeded in {time.monotonic() - started:.1f}s")

        # The HLS plays back through the uploader: master -> media playlist -> a segment.
        status, headers, body = get(f"{forward.url}/v1/jobs/{job_id}/hls/master.m3u8", token)
        assert status == 200 and headers["content-type"] == "application/vnd.apple.mpegurl"
        master = body.decode()
        variants = [ln for ln in master.splitlines() if ln and not ln.startswith("#")]
        assert master.startswith("#EXTM3U") and variants, master
        folder = variants[0].rsplit("/", 1)[0]
        status, _, body = get(f"{forward.url}/v1/jobs/{job_id}/hls/{variants[0]}", token)
        media = body.decode()
        segments = [ln for ln in media.splitlines() if ln and not ln.startswith("#")]
        assert status == 200 and segments, media
        status, headers, body = get(
            f"{forward.url}/v1/jobs/{job_id}/hls/{folder}/{segments[0]}", token
        )
        assert (
            status == 200
            and len(body) > 1000
            and headers["content-type"]
            in (
                "video/mp2t",
                "video/mp4",
            )
        )
    finally:
        forward.stop()

    # The transcode ran in a pod of the transcoder image, admitted under `restricted`, with the
    # chart's token-less ServiceAccount.
    pods = kube_cluster.get_json("pods", "-n", ns, "-l", f"hlsforge.io/transcodejob={job_id}")
    assert pods["items"], "no transcode pod"
    pod = pods["items"][0]
    assert pod["spec"]["containers"][0]["image"] == f"hlsforge/transcoder:{TAG}"
    assert pod["spec"]["serviceAccountName"] == f"{FULLNAME}-transcoder"
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["status"]["phase"] == "Succeeded"
    labels = kube_cluster.get_json("namespace", ns)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    # helm test: its own clip, through the Service, with the real CLI, waits for Succeeded.
    started = time.monotonic()
    test = kube_cluster.helm("test", RELEASE, "-n", ns, "--timeout", "6m", timeout=420)
    assert "Phase:          Succeeded" in test.stdout, test.stdout
    print(f"helm test took {time.monotonic() - started:.1f}s")

    # An upgrade keeps the generated token (lookup) and the operator pods never restarted
    # (liveness probes pass on the active and the standby replica alike).
    kube_cluster.helm(
        "upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values", "--wait", timeout=400
    )
    assert read_token(kube_cluster, ns) == token
    operators = kube_cluster.get_json(
        "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator"
    )["items"]
    assert len(operators) == 2
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in operators)

    # RBAC: what the operator did above worked with the chart's ServiceAccount and nothing
    # it was refused is in its log; what it must not do is denied by the API server.
    operator_sa, uploader_sa = f"{FULLNAME}-operator", f"{FULLNAME}-uploader"
    services = "app.kubernetes.io/component in (operator,uploader)"
    pod_names = kube_cluster.kubectl("get", "pods", "-n", ns, "-l", services, "-o", "name")
    assert len(pod_names.stdout.split()) == 3
    for pod_name in pod_names.stdout.split():
        log = kube_cluster.kubectl("logs", "-n", ns, pod_name).stdout
        assert "Forbidden" not in log and "forbidden" not in log, log[-3000:]
    as_operator = ["--as", f"system:serviceaccount:{ns}:{operator_sa}"]
    denied = kube_cluster.kubectl("get", "secrets", "-n", ns, *as_operator, check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
    denied = kube_cluster.kubectl("get", "tj", "-n", "default", *as_operator, check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
    assert kube_cluster.kubectl("get", "tj", "-n", ns, *as_operator).returncode == 0
    assert not can_i(kube_cluster, operator_sa, ns, "create", "jobs", "-n", "default")
    assert not can_i(kube_cluster, operator_sa, ns, "delete", "transcodejobs", "-n", ns)
    assert not can_i(kube_cluster, operator_sa, ns, "create", "pods", "-n", ns)
    # ... but it deletes the pods of its jobs that no Job owns any more (orphaned Jobs' pods).
    assert can_i(kube_cluster, operator_sa, ns, "delete", "pods", "-n", ns)
    assert can_i(kube_cluster, uploader_sa, ns, "create", "transcodejobs", "-n", ns)
    assert not can_i(kube_cluster, uploader_sa, ns, "get", "secrets", "-n", ns)
    assert not can_i(kube_cluster, uploader_sa, ns, "create", "jobs", "-n", ns)
    assert not can_i(kube_cluster, f"{FULLNAME}-transcoder", ns, "get", "pods", "-n", ns)

    # Uninstall with a TranscodeJob still there: the pre-delete hook deletes it while the
    # operator runs (its finalizer stops the Job); no pods, Jobs, ServiceAccounts or RBAC are
    # left; the media claim and volume are kept on purpose; the CRD stays.
    assert kube_cluster.get_json("tj", "-n", ns)["items"]
    started = time.monotonic()
    kube_cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", "--timeout", "5m", timeout=400)
    print(f"helm uninstall took {time.monotonic() - started:.1f}s")
    assert not kube_cluster.get_json("tj", "-n", ns)["items"]

    def nothing_left() -> bool:
        left = kube_cluster.kubectl(
            "get",
            "pods,jobs,roles,rolebindings,deployments,services,secrets,kopfpeerings",
            "-n",
            ns,
            "-o",
            "name",
        ).stdout.split()
        return not left

    wait_for("no namespaced leftovers", nothing_left, timeout=120)
    sas = kube_cluster.kubectl("get", "sa", "-n", ns, "-o", "name").stdout.split()
    assert sas == ["serviceaccount/default"]
    cluster_scoped = kube_cluster.kubectl(
        "get", "clusterroles,clusterrolebindings", "-o", "name"
    ).stdout
    assert ns not in cluster_scoped
    pvc = kube_cluster.get_json("pvc", f"{FULLNAME}-media", "-n", ns)
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert kube_cluster.kubectl("get", "crd", "transcodejobs.hlsforge.io").returncode == 0
