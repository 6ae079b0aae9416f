"""The local Kubernetes cluster (hack/cluster.py) as a session-scoped pytest fixture.

One cluster start per test session: if a cluster is already up (`make cluster-up`), it is
reused and left running; otherwise the fixture brings one up and takes it down at the end
(unless another test session registered in <state>/sessions/ still uses it).
A test that cannot get a cluster FAILS with the reason and the component logs' tails; it is
never skipped.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from tests.integration.test_uploader_harness import Uploader

REPO = Path(__file__).resolve().parents[2]
CLUSTER_PY = REPO / "hack" / "cluster.py"
UP_TIMEOUT = 3600.0  # a cold first run builds Kubernetes from source


def run_cluster_py(*args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
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


@dataclass
class KubeCluster:
    """Handle on the running cluster: its admin kubeconfig and a kubectl helper."""

    kubeconfig: Path
    kubectl_path: Path
    helm_path: Path
    started_here: bool
    namespaces: list[str] = field(default_factory=list)

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args]
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}",
                pytrace=False,
            )
        return done

    def helm(
        self, *args: str, check: bool = True, timeout: float = 300.0
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.helm_path), f"--kubeconfig={self.kubeconfig}", *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            pytest.fail(
                f"helm {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}",
                pytrace=False,
            )
        return done

    def apply(self, manifest: dict[str, Any], namespace: str | None = None) -> None:
        ns = ["--namespace", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", stdin=json.dumps(manifest))

    def get_json(self, *args: str) -> dict[str, Any]:
        out = self.kubectl("get", *args, "-o", "json").stdout
        doc: dict[str, Any] = json.loads(out)
        return doc

    def node_ip(self) -> str:
        """The node's InternalIP; the local cluster's DNS (CoreDNS) listens there too."""
        node = self.get_json("nodes")["items"][0]["status"]
        return str(next(a["address"] for a in node["addresses"] if a["type"] == "InternalIP"))

    def create_namespace(self, prefix: str = "it") -> str:
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.kubectl("create", "namespace", name)
        self.namespaces.append(name)
        # The service account controller creates "default" shortly after the namespace.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0:
                break
            time.sleep(0.5)
        return name

    def build_image(
        self,
        tag: str,
        context: Path,
        dockerfile: Path | None = None,
        network: str = "none",
        build_args: dict[str, str] | None = None,
    ) -> None:
        """docker build in the cluster's dockerd, then import into containerd's k8s.io."""
        extra = ["--file", str(dockerfile)] if dockerfile is not None else []
        extra += ["--network", network]
        for key, value in (build_args or {}).items():
            extra += ["--build-arg", f"{key}={value}"]
        done = run_cluster_py("image-build", tag, str(context), *extra, timeout=1800)
        if done.returncode != 0:
            pytest.fail(f"image build {tag} failed:\n{done.stderr[-4000:]}", pytrace=False)


def _up() -> bool:
    """Bring the cluster up unless it already is; returns True when this call started it."""
    if os.geteuid() != 0:
        pytest.fail("the local cluster needs root (containerd, kubelet, iptables)", pytrace=False)
    if run_cluster_py("status", timeout=60).returncode == 0:
        return False
    try:
        up = run_cluster_py("up", timeout=UP_TIMEOUT)
    except subprocess.TimeoutExpired:
        run_cluster_py("down")
        pytest.fail(f"hack/cluster.py up took over {UP_TIMEOUT:.0f}s", pytrace=False)
    if up.returncode != 0:
        reason = up.stderr[-8000:]
        run_cluster_py("down")  # stop what we started; logs stay in <state>/logs
        pytest.fail(f"could not bring the local cluster up:\n{reason}", pytrace=False)
    return True


def _register_session(state: Path) -> Path:
    """Mark this test session as a user of the cluster (<state>/sessions/<pid>)."""
    sessions = state / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    mine = sessions / str(os.getpid())
    mine.write_text(f"{os.getpid()}\n")
    return mine


def _other_live_sessions(mine: Path) -> list[int]:
    others = []
    for entry in mine.parent.glob("*"):
        if entry != mine and entry.name.isdigit() and Path(f"/proc/{entry.name}").exists():
            others.append(int(entry.name))
    return others


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    started = _up()
    kubeconfig = Path(run_cluster_py("kubeconfig").stdout.strip())
    session = _register_session(kubeconfig.parent)
    kubectl = Path(run_cluster_py("path", "kubectl").stdout.strip())
    helm = Path(run_cluster_py("path", "helm").stdout.strip())
    cluster = KubeCluster(
        kubeconfig=kubeconfig, kubectl_path=kubectl, helm_path=helm, started_here=started
    )
    yield cluster
    for ns in cluster.namespaces:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
    session.unlink(missing_ok=True)
    # Stop what this session started, unless another test session is still using it.
    if started and not _other_live_sessions(session):
        run_cluster_py("down")


@pytest.fixture
def namespace(kube_cluster: KubeCluster) -> str:
    """A fresh namespace per test, deleted at the end of the session."""
    return kube_cluster.create_namespace()


# The volume-mode uploader that the test_uploader_{api,delivery,events,idempotency,slow_bodies,
# streamed} modules share: module scope, so each of those modules starts its own. Modules with
# another uploader (CLI, S3) define their own ``up``/``clip``/``http``, which override these.
# The harness imports this module, hence the imports inside the fixtures.
@pytest.fixture(scope="module")
def up(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploader]:
    from tests.integration.test_uploader_volume_harness import volume_uploader

    with volume_uploader(kube_cluster, tmp_path_factory) as uploader:
        yield uploader


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.integration.harness import make_clip

    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture
def http(up: Uploader) -> Iterator[httpx.Client]:
    from tests.integration.test_uploader_volume_harness import api

    with api(up) as c:
        yield c
