"""What operator tests share: a media volume the pods and the host both see, the transcoder
image in the node, generated clips, an operator process, and status polling.

Everything is real: the operator runs as a process with the admin kubeconfig, transcodes run
in pods of the transcoder image, and the media volume is a hostPath PersistentVolume bound
to a ReadWriteMany claim, as a shared volume would be in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tests.integration.conftest import KubeCluster

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
IMAGE = "hlsforge/transcoder:test"
MEDIA_PVC = "hlsforge-media"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_clip(
    path: Path,
    seconds: float = 3,
    size: str = "320x180",
    audio: bool = True,
    noise: bool = False,
) -> Path:
    """An H.264/AAC MP4 from ffmpeg's lavfi sources (nothing binary is committed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    video = f"testsrc2=size={size}:rate=30" + (",noise=alls=6:allf=t" if noise else "")
    argv = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", video]
    if audio:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    argv += [
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-pix_fmt",
        "yuv420p",
    ]
    if audio:
        argv += ["-c:a", "aac", "-b:a", "96k"]
    subprocess.run([*argv, str(path)], check=True, timeout=300)
    os.chmod(path, 0o644)  # noqa: PTH101 - readable by the transcoder's non-root user
    return path


_PLATFORM_READY: set[Path] = set()


def install_crds(cluster: KubeCluster) -> None:
    """The project's CRDs applied (server-side, idempotent) and established."""
    crds = str(REPO / "deploy" / "crds")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", crds)
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def prepare_platform(cluster: KubeCluster) -> None:
    """CRDs installed and the transcoder image in the node: once per test session."""
    if cluster.kubeconfig in _PLATFORM_READY:
        return
    install_crds(cluster)
    build_transcoder_image(cluster)
    _PLATFORM_READY.add(cluster.kubeconfig)


def media_namespace(cluster: KubeCluster, prefix: str) -> tuple[str, MediaVolume]:
    """A namespace whose pods must meet the "restricted" Pod Security Standard (or are
    refused), with the media claim bound to a fresh host folder."""
    namespace = cluster.create_namespace(prefix)
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    return namespace, MediaVolume.create(cluster, namespace)


def operator_env(
    cluster: KubeCluster, namespace: str, media_root: Path, metrics_port: int, **extra: str
) -> dict[str, str]:
    """Settings of an operator process for one test namespace: small pods, local image."""
    return {
        "KUBECONFIG": str(cluster.kubeconfig),
        "HLSFORGE_NAMESPACE": namespace,
        "HLSFORGE_MEDIA_ROOT": str(media_root),
        "HLSFORGE_MEDIA_PVC": MEDIA_PVC,
        "HLSFORGE_TRANSCODER_IMAGE": IMAGE,
        "HLSFORGE_IMAGE_PULL_POLICY": "Never",
        "HLSFORGE_DEFAULT_CPU_REQUEST": "100m",
        "HLSFORGE_DEFAULT_MEMORY_REQUEST": "128Mi",
        "HLSFORGE_SCRATCH_SIZE_LIMIT": "1Gi",
        "HLSFORGE_DEFAULT_EPHEMERAL_STORAGE_LIMIT": "2Gi",
        "HLSFORGE_METRICS_ADDRESS": "127.0.0.1",
        "HLSFORGE_METRICS_PORT": str(metrics_port),
        **extra,
    }


def build_transcoder_image(cluster: KubeCluster) -> None:
    """The wheelhouse on the host (pip reaches PyPI here, the build does not), then the image,
    with apt reaching Debian through the host network, loaded into the node."""
    wheels = REPO / "build" / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wheels), str(REPO)],
        check=True,
        timeout=600,
    )
    cluster.build_image(
        IMAGE,
        REPO,
        dockerfile=REPO / "transcoder-image" / "Dockerfile",
        network="host",
        build_args={"BASE_IMAGE": "hlsforge.local/base:bookworm"},
    )


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@dataclass
class MediaVolume:
    """A host directory exposed to pods as the ReadWriteMany claim ``hlsforge-media``."""

    root: Path
    namespace: str
    pv_name: str

    @classmethod
    def create(cls, cluster: KubeCluster, namespace: str) -> MediaVolume:
        root = Path("/var/lib/hlsforge-it") / namespace
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o777)  # the transcoder runs as uid 10001
        pv = f"media-{namespace}"
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv, "labels": {"hlsforge.io/test": "true"}},
                "spec": {
                    "capacity": {"storage": "10Gi"},
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": str(root), "type": "Directory"},
                    "claimRef": {"namespace": namespace, "name": MEDIA_PVC},
                },
            }
        )
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": MEDIA_PVC, "namespace": namespace},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": pv,
                    "resources": {"requests": {"storage": "10Gi"}},
                },
            }
        )
        return cls(root=root, namespace=namespace, pv_name=pv)

    def remove(self, cluster: KubeCluster) -> None:
        cluster.kubectl("delete", "pv", self.pv_name, "--wait=false", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class OperatorProcess:
    """``python -m hlsforge_operator`` against the test cluster; always stopped by its test."""

    env: dict[str, str]
    log_path: Path
    args: list[str] = field(default_factory=lambda: ["--standalone"])
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hlsforge_operator", *self.args],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a node dies."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class PortForward:
    """`kubectl port-forward` from a free 127.0.0.1 port to ``target`` (``svc/x``, ``pod/y``);
    stopped by whoever started it."""

    def __init__(self, cluster: KubeCluster, namespace: str, target: str, port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [str(cluster.kubectl_path), f"--kubeconfig={cluster.kubeconfig}"]
        argv += ["port-forward", "-n", namespace, "--address", "127.0.0.1"]
        argv += [target, f"{self.port}:{port}"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self, timeout: float = 60) -> PortForward:
        def listening() -> bool | None:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0 or None

        wait_for(f"port-forward on {self.port}", listening, timeout)
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
