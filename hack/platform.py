#!/usr/bin/env python3
"""The one-command local install of hlsforge on the local cluster (make up / env / down).

    python3 hack/platform.py images [--tag dev]   # wheelhouse + both images, loaded into the node
    python3 hack/platform.py up                    # cluster, images, helm install, port-forward
    python3 hack/platform.py env                   # two `export` lines for HLSFORGE_URL/TOKEN
    python3 hack/platform.py down                  # undo `up` (the cluster only if `up` started it)

Why a script: `up` must leave one long-lived process behind (the port-forward, supervised so it
survives uploader restarts) and `down` must stop exactly that process, so its pid and start time
live in a pidfile under the cluster's state folder. Stdlib only, like hack/cluster.py.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "deploy" / "helm" / "hlsforge"
CLUSTER_PY = REPO / "hack" / "cluster.py"
BUILD = REPO / "build" / "platform"
LOCAL_BASE = "hlsforge.local/base:bookworm"
RELEASE = os.environ.get("HLSFORGE_RELEASE", "hlsforge")
NAMESPACE = os.environ.get("HLSFORGE_LOCAL_NAMESPACE", "hlsforge")
PORT = int(os.environ.get("HLSFORGE_LOCAL_PORT", "18080"))
"""Preferred local port; when it is taken, `up` picks a free one and `env` prints it."""
TAG = os.environ.get("HLSFORGE_IMAGE_TAG", "dev")
MEDIA_HOST_ROOT = Path("/var/lib/hlsforge-media")
UID = 10001
# The platform image's wheelhouse: `client` too, because uvicorn's WebSocket protocol needs
# `websockets` and the chart's `helm test` pod runs the `hlsforge` CLI.
EXTRAS = "operator,uploader,client"


def log(msg: str) -> None:
    print(f"[platform] {msg}", file=sys.stderr, flush=True)


def cluster_py(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{env.get('PATH', '/usr/bin:/bin')}:/usr/local/go/bin"
    return subprocess.run(
        [sys.executable, str(CLUSTER_PY), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def cluster_out(*args: str) -> str:
    done = cluster_py(*args, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"hack/cluster.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


@dataclass(frozen=True)
class Tools:
    kubeconfig: Path
    kubectl: Path
    helm: Path

    @classmethod
    def find(cls) -> Tools:
        return cls(
            kubeconfig=Path(cluster_out("kubeconfig")),
            kubectl=Path(cluster_out("path", "kubectl")),
            helm=Path(cluster_out("path", "helm")),
        )

    @property
    def state(self) -> Path:
        """The cluster's state folder (removed by `cluster.py down`): our pidfile lives there."""
        return self.kubeconfig.parent / "platform"

    def kubectl_argv(self, *args: str) -> list[str]:
        return [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args]

    def run(
        self, tool: str, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        binary = self.kubectl if tool == "kubectl" else self.helm
        argv = [str(binary), f"--kubeconfig={self.kubeconfig}", *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise SystemExit(f"{tool} {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done


# ---------------------------------------------------------------------------------- images
def build_images(tag: str, python: str) -> None:
    """Wheelhouse on the host (PyPI is reachable here, not in docker builds), then both images
    with the local base, loaded into the node's containerd."""
    bundle = REPO / "uploader" / "hlsforge_uploader" / "static" / "vendor" / "hls.min.js"
    if not bundle.is_file():
        raise SystemExit(f"{bundle} is missing: run `make web` first")
    context = BUILD / "context"
    shutil.rmtree(context, ignore_errors=True)
    wheels = context / "build" / "wheels"
    started = time.monotonic()
    subprocess.run(
        [python, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wheels), f"{REPO}[{EXTRAS}]"],
        check=True,
        timeout=1200,
    )
    log(f"wheelhouse in {time.monotonic() - started:.0f}s")
    for image, dockerfile in (
        (f"hlsforge/transcoder:{tag}", REPO / "transcoder-image" / "Dockerfile"),
        (f"hlsforge/platform:{tag}", REPO / "deploy" / "images" / "platform.Dockerfile"),
    ):
        started = time.monotonic()
        done = cluster_py(
            "image-build",
            image,
            str(context),
            "-f",
            str(dockerfile),
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={LOCAL_BASE}",
        )
        if done.returncode != 0:
            raise SystemExit(f"building {image} failed:\n{done.stderr[-4000:]}")
        log(f"{image} built and loaded in {time.monotonic() - started:.0f}s")


# ---------------------------------------------------------------------------------- forward
def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (/proc/PID/stat field 22): tells a recycled pid
    from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def forward_pidfile(tools: Tools) -> Path:
    return tools.state / "forward.pid"


def forward_running(tools: Tools) -> int | None:
    pidfile = forward_pidfile(tools)
    try:
        pid_text, started = pidfile.read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if _start_time(pid) == started else None


def start_forward(tools: Tools) -> None:
    """Start the supervised port-forward (127.0.0.1:PORT -> the uploader Service) as a daemon."""
    if forward_running(tools):
        return
    tools.state.mkdir(parents=True, exist_ok=True)
    logfile = (tools.state / "forward.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "_forward"],
        stdin=subprocess.DEVNULL,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    logfile.close()
    started = None
    for _ in range(50):
        started = _start_time(proc.pid)
        if started:
            break
        time.sleep(0.1)
    forward_pidfile(tools).write_text(f"{proc.pid} {started}\n")
    # Register as a user of the cluster (the test fixture's protocol, docs/cluster.md): a test
    # session that started the cluster then leaves it up while the install is in use.
    session_file(tools, proc.pid).parent.mkdir(parents=True, exist_ok=True)
    session_file(tools, proc.pid).write_text(f"{proc.pid}\n")


def session_file(tools: Tools, pid: int) -> Path:
    return tools.kubeconfig.parent / "sessions" / str(pid)


def stop_forward(tools: Tools) -> None:
    pid = forward_running(tools)
    if pid is not None:
        session_file(tools, pid).unlink(missing_ok=True)
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if _start_time(pid) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
    forward_pidfile(tools).unlink(missing_ok=True)
    (tools.state / "port").unlink(missing_ok=True)


def forward_loop() -> int:
    """Run `kubectl port-forward` and restart it when it exits (a restarted uploader pod ends
    it); SIGTERM stops both."""
    tools = Tools.find()
    child: subprocess.Popen[bytes] | None = None

    def stop(_signo: int, _frame: object) -> None:
        if child and child.poll() is None:
            child.terminate()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    service = f"svc/{service_name()}"
    port = local_port(tools)
    for _ in range(100):  # our parent writes the pidfile just after starting us
        if forward_running(tools) == os.getpid():
            break
        time.sleep(0.1)
    # Stop when the pidfile no longer names us (`down`, or the cluster's state was removed).
    while forward_running(tools) == os.getpid():
        child = subprocess.Popen(
            tools.kubectl_argv(
                "port-forward", "-n", NAMESPACE, "--address", "127.0.0.1", service, f"{port}:80"
            )
        )
        child.wait()
        time.sleep(1)
    return 0


def service_name() -> str:
    return f"{RELEASE}-uploader" if "hlsforge" in RELEASE else f"{RELEASE}-hlsforge-uploader"


# ---------------------------------------------------------------------------------- up/down
def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port() -> int:
    if port_free(PORT):
        return PORT
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    log(f"127.0.0.1:{PORT} is taken: using {port}")
    return port


def local_port(tools: Tools) -> int:
    try:
        return int((tools.state / "port").read_text())
    except (OSError, ValueError):
        return PORT


def url(tools: Tools) -> str:
    return f"http://127.0.0.1:{local_port(tools)}"


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


def media_dir() -> Path:
    return MEDIA_HOST_ROOT / NAMESPACE


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


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    images = sub.add_parser("images")
    images.add_argument("--tag", default=TAG)
    for p in (images, sub.add_parser("up")):
        p.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    sub.choices["up"].add_argument("--skip-images", action="store_true")
    sub.add_parser("env")
    sub.add_parser("down")
    sub.add_parser("_forward")
    args = ap.parse_args(argv)
    if args.cmd == "images":
        build_images(args.tag, args.python)
        return 0
    if args.cmd == "up":
        return up(args.python, args.skip_images)
    if args.cmd == "env":
        return env()
    if args.cmd == "down":
        return down()
    return forward_loop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
