"""The cluster's own tools, found through hack/cluster.py: its kubeconfig, kubectl and helm."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .settings import CLUSTER_PY, NAMESPACE


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
        """This install's state folder, inside the cluster's (removed by `cluster.py down`): the
        port-forward's pidfile, its port and whether `up` started the cluster. One per namespace,
        so an install in another namespace (a test's) never touches the user's."""
        return self.kubeconfig.parent / "platform" / NAMESPACE

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
