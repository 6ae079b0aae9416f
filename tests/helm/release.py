"""The chart installed on the real local cluster and talked to: the helpers the cluster tests
share (a restricted namespace, an install that always cleans up, the uploader through a
port-forward, `kubectl auth can-i`)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.helm.chart import CHART, REPO
from tests.integration.conftest import KubeCluster
from tests.integration.harness import PortForward, wait_for

TAG = "helmtest"

RELEASE = "hf"

FULLNAME = "hf-hlsforge"

MEDIA_ROOT = Path("/var/lib/hlsforge-media")


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


@contextlib.contextmanager
def installed(
    cluster: KubeCluster,
    tag: str,
    prefix: str,
    *sets: str,
    namespace: str | None = None,
    volume: bool = True,
) -> Iterator[str]:
    """The chart installed in a fresh restricted namespace (or ``namespace``) with the dev
    hostPath volume (unless ``volume`` is False: S3 mode); its TranscodeJobs deleted (while the
    operator runs), the release uninstalled and the media folder removed on exit, whatever the
    test did."""
    ns = namespace or restricted_namespace(cluster, prefix)
    media = MEDIA_ROOT / ns
    media.mkdir(parents=True, exist_ok=True)
    os.chown(media, 10001, 10001)
    argv = ["install", RELEASE, str(CHART), "-n", ns, "--wait", "--timeout", "8m"]
    storage = ["storage.pvc.devHostPath.enabled=true", f"storage.pvc.devHostPath.path={media}"]
    for value in (
        f"images.platform.tag={tag}",
        f"images.transcoder.tag={tag}",
        *(storage if volume else []),
        "operator.verbose=true",
        *sets,
    ):
        argv += ["--set", value]
    started = time.monotonic()
    try:
        cluster.helm(*argv, timeout=600)
        print(f"helm install --wait took {time.monotonic() - started:.0f}s")
        yield ns
    finally:
        cluster.kubectl("delete", "tj", "--all", "-n", ns, "--wait", "--timeout=120s", check=False)
        cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
        # The media claim and the dev volume are kept on uninstall (resource-policy keep).
        cluster.kubectl("delete", "pvc", "--all", "-n", ns, "--wait=false", check=False)
        cluster.kubectl("delete", "pv", f"{ns}-{FULLNAME}-media", "--wait=false", check=False)
        shutil.rmtree(media, ignore_errors=True)


def read_token(cluster: KubeCluster, ns: str) -> str:
    secret = cluster.get_json("secret", f"{FULLNAME}-token", "-n", ns)
    return base64.b64decode(secret["data"]["token"]).decode()


def uploader_forward(cluster: KubeCluster, namespace: str) -> PortForward:
    """The uploader Service on a free 127.0.0.1 port."""
    return PortForward(cluster, namespace, f"svc/{FULLNAME}-uploader", 80)


@contextlib.contextmanager
def serving_uploader(cluster: KubeCluster, ns: str, token: str) -> Iterator[PortForward]:
    """The uploader Service port-forwarded, once it answers an authenticated request."""
    forward = uploader_forward(cluster, ns)
    try:
        wait_for("the uploader", lambda: answers(f"{forward.url}/v1/jobs", token), timeout=60)
        yield forward
    finally:
        forward.stop()


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


def upload(forward: PortForward, token: str, clip: Path) -> str:
    """`hlsforge upload --wait` through the port-forward; returns the job id once Succeeded."""
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
    job_id: str = events[-1]["id"]
    return job_id


def post_file(url: str, token: str, path: Path) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
        f"{url}/v1/uploads",
        data=path.read_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as rsp:  # noqa: S310
            return rsp.status, json.loads(rsp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def can_i(cluster: KubeCluster, sa: str, ns: str, *args: str) -> bool:
    done = cluster.kubectl(
        "auth", "can-i", *args, f"--as=system:serviceaccount:{ns}:{sa}", check=False
    )
    return done.stdout.strip() == "yes"


def peers(cluster: KubeCluster, ns: str) -> dict[str, dict[str, object]]:
    status = cluster.get_json("kopfpeering", "hlsforge", "-n", ns).get("status") or {}
    return {k: v for k, v in status.items() if isinstance(v, dict)}
