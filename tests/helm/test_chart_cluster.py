"""The chart on the real local cluster: server-side dry runs, then a real install that uploads
through the uploader Service, transcodes in a pod of the transcoder image under the
`restricted` Pod Security Standard, plays the HLS back, passes `helm test`, proves RBAC denials,
and leaves nothing behind on uninstall.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.helm.chart import CHART, CI_VALUES, REPO
from tests.integration.conftest import KubeCluster
from tests.integration.harness import free_port, make_clip

pytestmark = pytest.mark.cluster
TAG = "helmtest"
RELEASE = "hf"
FULLNAME = "hf-hlsforge"
MEDIA_ROOT = Path("/var/lib/hlsforge-media")
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def restricted_namespace(cluster: KubeCluster, prefix: str) -> str:
    ns = cluster.create_namespace(prefix)
    cluster.kubectl(
        "label",
        "namespace",
        ns,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    return ns


@pytest.fixture(scope="module")
def images(kube_cluster: KubeCluster) -> str:
    """Both images built the local way (wheelhouse on the host, local base) into the node."""
    started = time.monotonic()
    script = str(REPO / "hack" / "platform.py")
    done = subprocess.run(
        [sys.executable, script, "images", "--tag", TAG, "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"images built in {time.monotonic() - started:.0f}s\n{done.stderr}")
    return TAG


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_rendered_chart_passes_a_server_side_dry_run(
    kube_cluster: KubeCluster, values_file: Path
) -> None:
    ns = restricted_namespace(kube_cluster, "hdry")
    rendered = kube_cluster.helm(
        "template", RELEASE, str(CHART), "--namespace", ns, "--values", str(values_file)
    ).stdout
    done = kube_cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered, check=False)
    assert done.returncode == 0, done.stderr
    # Deployments are only warned about (their pods would be refused): no warning at all.
    assert "PodSecurity" not in done.stderr, done.stderr
    assert "created (server dry run)" in done.stdout


def test_notes_tell_how_to_upload_and_play(kube_cluster: KubeCluster) -> None:
    ns = restricted_namespace(kube_cluster, "hnotes")
    done = kube_cluster.helm("install", RELEASE, str(CHART), "-n", ns, "--dry-run=server")
    notes = done.stdout.split("NOTES:", 1)[1]
    for needle in (
        "hlsforge upload",
        "HLSFORGE_TOKEN",
        f"port-forward svc/{FULLNAME}-uploader",
        "/ui/",
        "master.m3u8",
        f"helm test {RELEASE}",
    ):
        assert needle in notes, needle
    s3 = kube_cluster.helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        ns,
        "--dry-run=server",
        "--values",
        str(CHART / "ci" / "s3-values.yaml"),
    )
    assert "S3 backend is not implemented yet" in s3.stdout


class PortForward:
    """`kubectl port-forward` to the uploader Service on a free 127.0.0.1 port."""

    def __init__(self, cluster: KubeCluster, namespace: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [str(cluster.kubectl_path), f"--kubeconfig={cluster.kubeconfig}"]
        argv += ["port-forward", "-n", namespace, "--address", "127.0.0.1"]
        argv += [f"svc/{FULLNAME}-uploader", f"{self.port}:80"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def get(url: str, token: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as rsp:  # noqa: S310 - 127.0.0.1
            return rsp.status, dict(rsp.headers), rsp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def answers(url: str, token: str) -> bool:
    try:
        return get(url, token)[0] == 200
    except OSError:  # not listening yet
        return False


def can_i(cluster: KubeCluster, sa: str, ns: str, *args: str) -> bool:
    done = cluster.kubectl(
        "auth", "can-i", *args, f"--as=system:serviceaccount:{ns}:{sa}", check=False
    )
    return done.stdout.strip() == "yes"


@pytest.fixture
def release(kube_cluster: KubeCluster, images: str) -> Iterator[str]:
    """The chart installed in a fresh restricted namespace with the dev hostPath volume;
    uninstalled (and the media folder removed) by the test itself or here."""
    ns = restricted_namespace(kube_cluster, "hchart")
    media = MEDIA_ROOT / ns
    media.mkdir(parents=True, exist_ok=True)
    os.chown(media, 10001, 10001)
    started = time.monotonic()
    kube_cluster.helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        ns,
        "--wait",
        "--timeout",
        "8m",
        "--set",
        f"images.platform.tag={images}",
        "--set",
        f"images.transcoder.tag={images}",
        "--set",
        "storage.pvc.devHostPath.enabled=true",
        "--set",
        f"storage.pvc.devHostPath.path={media}",
        "--set",
        "operator.verbose=true",
        timeout=600,
    )
    print(f"helm install --wait took {time.monotonic() - started:.0f}s")
    try:
        yield ns
    finally:
        kube_cluster.kubectl(
            "delete", "tj", "--all", "-n", ns, "--wait", "--timeout=120s", check=False
        )
        kube_cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
        shutil.rmtree(media, ignore_errors=True)


def test_install_upload_play_helm_test_rbac_and_uninstall(
    kube_cluster: KubeCluster, release: str, tmp_path: Path
) -> None:
    ns = release
    secret = kube_cluster.get_json("secret", f"{FULLNAME}-token", "-n", ns)
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) == 40

    # Two operator replicas peer: both appear in the KopfPeering, exactly one is active.
    def peers() -> int | None:
        status = kube_cluster.get_json("kopfpeering", "hlsforge", "-n", ns).get("status") or {}
        return len(status) if len(status) == 2 else None

    wait_for("two operator peers", peers, timeout=90)

    forward = PortForward(kube_cluster, ns)
    try:
        wait_for(
            "the uploader through port-forward",
            lambda: answers(f"{forward.url}/v1/jobs", token),
            timeout=60,
        )
        assert get(f"{forward.url}/v1/jobs", "wrong-token")[0] == 401
        clip = make_clip(tmp_path / "clip.mp4", seconds=3)
        started = time.monotonic()
        done = subprocess.run(
            [str(REPO / ".venv" / "bin" / "hlsforge"), "upload", str(clip), "--wait", "--json"],
            env={**os.environ, "HLSFORGE_URL": forward.url, "HLSFORGE_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert done.returncode == 0 and events[-1]["event"] == "done", done.stdout + done.stderr
        print(f"upload -> Succeeded in {time.monotonic() - started:.1f}s")
        job_id = events[-1]["id"]

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

    # RBAC: what the operator did above worked with the chart's ServiceAccount and nothing
    # it was refused is in its log; what it must not do is denied by the API server.
    operator_sa, uploader_sa = f"{FULLNAME}-operator", f"{FULLNAME}-uploader"
    for pod_name in kube_cluster.kubectl(
        "get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator", "-o", "name"
    ).stdout.split():
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
    assert can_i(kube_cluster, uploader_sa, ns, "create", "transcodejobs", "-n", ns)
    assert not can_i(kube_cluster, uploader_sa, ns, "get", "secrets", "-n", ns)
    assert not can_i(kube_cluster, uploader_sa, ns, "create", "jobs", "-n", ns)
    assert not can_i(kube_cluster, f"{FULLNAME}-transcoder", ns, "get", "pods", "-n", ns)

    # Uninstall (TranscodeJobs first, while the operator can still run their finalizers):
    # no pods, Jobs, ServiceAccounts, RBAC or volume are left; the CRD stays.
    kube_cluster.kubectl("delete", "tj", "--all", "-n", ns, "--wait", "--timeout=120s")
    kube_cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", "--timeout", "3m")

    def nothing_left() -> bool:
        left = kube_cluster.kubectl(
            "get",
            "pods,jobs,roles,rolebindings,deployments,services,secrets,pvc,kopfpeerings",
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
        "get", "clusterroles,clusterrolebindings,pv", "-o", "name"
    ).stdout
    assert ns not in cluster_scoped
    assert kube_cluster.kubectl("get", "crd", "transcodejobs.hlsforge.io").returncode == 0
