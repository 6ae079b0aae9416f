"""`up`, `env` and `down`: the helm release on the local cluster, with its media folder and
its port-forward."""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from .forward import forward_running, pick_port, session_file, start_forward, stop_forward, url
from .images import build_images
from .settings import CHART, NAMESPACE, RELEASE, TAG, UID, media_dir, service_name
from .tools import Tools, cluster_py, log


def read_token(tools: Tools) -> str:
    secret = service_name().removesuffix("-uploader") + "-token"
    done = tools.run("kubectl", "get", "secret", "-n", NAMESPACE, secret, "-o", "json")
    data: dict[str, str] = json.loads(done.stdout)["data"]
    return base64.b64decode(data["token"]).decode()


def wait_http(address: str, token: str, timeout: float) -> None:
    """Wait for a 200 from an authenticated route: proves the port reaches OUR uploader."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(address, headers=headers)  # noqa: S310 - http://127.0.0.1
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as rsp:  # noqa: S310 - our URL
                if rsp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{address} did not answer within {timeout:.0f}s")
        time.sleep(1)


def up(python: str, skip_images: bool) -> int:
    started = time.monotonic()
    cluster_started = False
    if cluster_py("status", timeout=60).returncode != 0:
        log("bringing the local cluster up (hack/cluster.py up)")
        done = cluster_py("up")
        if done.returncode != 0:
            raise SystemExit(f"cluster up failed:\n{done.stderr[-6000:]}")
        cluster_started = True
    tools = Tools.find()
    tools.state.mkdir(parents=True, exist_ok=True)
    marker = tools.state / "started-cluster"
    if cluster_started:
        marker.write_text("1\n")
    # Hold the cluster while we install (a test session ending now would otherwise stop a
    # cluster it started under us); the port-forward daemon holds it afterwards.
    mine = session_file(tools, os.getpid())
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text(f"{os.getpid()}\n")
    try:
        return install(tools, python, skip_images, started)
    finally:
        mine.unlink(missing_ok=True)


def install(tools: Tools, python: str, skip_images: bool, started: float) -> int:
    if not skip_images:
        build_images(TAG, python)
    # The dev hostPath volume: a node directory writable by the pods' uid (restricted pods
    # cannot chown it themselves).
    media = media_dir()
    media.mkdir(parents=True, exist_ok=True)
    os.chown(media, UID, UID)
    media.chmod(0o770)
    namespace = tools.run("kubectl", "get", "namespace", NAMESPACE, check=False)
    if namespace.returncode != 0:
        tools.run("kubectl", "create", "namespace", NAMESPACE)
    tools.run(
        "kubectl",
        "label",
        "namespace",
        NAMESPACE,
        "--overwrite",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    log(f"helm upgrade --install {RELEASE} (namespace {NAMESPACE})")
    tools.run(
        "helm",
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--wait",
        "--timeout",
        "10m",
        "--set",
        f"images.platform.tag={TAG}",
        "--set",
        f"images.transcoder.tag={TAG}",
        "--set",
        "storage.pvc.devHostPath.enabled=true",
        "--set",
        f"storage.pvc.devHostPath.path={media}",
        timeout=900,
    )
    stop_forward(tools)  # a new uploader pod may have replaced the one it followed
    (tools.state / "port").write_text(f"{pick_port()}\n")
    start_forward(tools)
    token = read_token(tools)
    wait_http(f"{url(tools)}/v1/jobs?limit=1", token, timeout=120)
    print(f"hlsforge is up in {time.monotonic() - started:.0f}s")
    print(f"  dashboard: {url(tools)}/ui/")
    print(f"  token:     {token}")
    print('  shell:     eval "$(make -s env)"; hlsforge upload VIDEO --wait')
    return 0


def env() -> int:
    tools = Tools.find()
    if not forward_running(tools):
        raise SystemExit("hlsforge is not up here (no port-forward): run `make up`")
    token = read_token(tools)
    print(f"export HLSFORGE_URL={url(tools)}")
    print(f"export HLSFORGE_TOKEN={token}")
    return 0


def down() -> int:
    if cluster_py("status", timeout=60).returncode != 0:
        log("the cluster is not running: removing the media folder only")
        shutil.rmtree(media_dir(), ignore_errors=True)
        return 0
    tools = Tools.find()
    stop_forward(tools)
    # TranscodeJobs carry the operator's finalizer: delete them while the operator still runs,
    # or the namespace would hang in Terminating.
    tools.run(
        "kubectl",
        "delete",
        "transcodejobs",
        "--all",
        "-n",
        NAMESPACE,
        "--wait",
        "--timeout=120s",
        check=False,
    )
    if tools.run("helm", "status", RELEASE, "-n", NAMESPACE, check=False).returncode == 0:
        tools.run("helm", "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m")
    tools.run("kubectl", "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
    # The dev volume is kept by `helm uninstall` (resource-policy keep); `down` removes it.
    volume = f"{NAMESPACE}-{service_name().removesuffix('-uploader')}-media"
    tools.run("kubectl", "delete", "pv", volume, "--ignore-not-found", check=False)
    shutil.rmtree(media_dir(), ignore_errors=True)
    marker = tools.state / "started-cluster"
    if marker.exists():
        sessions = tools.kubeconfig.parent / "sessions"
        users = [
            p for p in sessions.glob("*") if p.name.isdigit() and Path(f"/proc/{p.name}").exists()
        ]
        if users:
            log(f"the cluster stays up: test sessions {[p.name for p in users]} use it")
        else:
            log("stopping the cluster `make up` started")
            cluster_py("down")
    log("down")
    return 0
