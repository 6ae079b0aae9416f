"""The running cluster as every command sees it: its components by name, starting and stopping
one, kubectl and ctr against it, health and status. `up` and `down` (lifecycle.py) build on
this; `status` needs nothing more.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import commands, netpol
from .procs import (
    ClusterError,
    Proc,
    client_context,
    http_ok,
    log_tail,
    port_free,
    running,
    say,
    spawn,
    stop,
    wait_for,
)
from .settings import NODE_NAME, Settings

# Start order; `down` stops in reverse (with the pod clean-up in between).
CONTROL_PLANE = ("etcd", "kube-apiserver", "apiserver-forward", "kube-controller-manager",
                 "kube-scheduler")  # fmt: skip
NODE = ("containerd", "coredns", "kubelet", "kube-proxy", netpol.NAME)
OPTIONAL = ("dockerd",)
ALL = CONTROL_PLANE + NODE + OPTIONAL


@dataclass
class RunningCluster:
    s: Settings

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "GO"))}
        env["PATH"] = commands.path_env(self.s, env.get("PATH", "/usr/bin:/bin"))
        env["KUBECONFIG"] = str(self.s.admin_kubeconfig)
        return env

    def log(self, name: str) -> Path:
        return self.s.logs / f"{name}.log"

    def kubectl(
        self, *args: str, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.s.binary("kubectl")), f"--kubeconfig={self.s.admin_kubeconfig}", *args]
        done = subprocess.run(
            argv, input=input_text, capture_output=True, text=True, check=False, env=self.env()
        )
        if check and done.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def admin_ctx(self) -> ssl.SSLContext:
        p = self.s.pki
        return client_context(p / "ca.crt", p / "admin.crt", p / "admin.key")

    def apiserver_ready(self) -> bool:
        url = f"{commands.server_url(self.s)}/readyz"
        return http_ok(url, self.admin_ctx())

    def start(
        self, name: str, argv: list[str], healthy: Callable[[], bool], timeout: float
    ) -> Proc:
        proc = running(self.s.pids, name)
        if proc is None:
            ports = commands.listen_ports(self.s, name)
            busy = [f"{h}:{p}" for h, p in ports if not port_free(h, p)]
            if busy:
                raise ClusterError(
                    f"cannot start {name}: {', '.join(busy)} already in use by a process this"
                    f" script did not start (another cluster? see `ss -ltnp`)"
                )
            say(f"starting {name}")
            proc = spawn(name, argv, self.s.pids, self.s.logs, self.env())
        wait_for(f"{name} to be healthy", healthy, timeout, self.log(name), proc)
        return proc

    # --- state -------------------------------------------------------------------------------
    def node_ready(self) -> bool:
        got = self.kubectl(
            "get", "node", NODE_NAME, "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False,
        )  # fmt: skip
        return got.returncode == 0 and got.stdout.strip() == "True"

    def default_sa(self) -> bool:
        return self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0

    def healthy(self) -> bool:
        """Everything (but optional dockerd) running, apiserver ready, node Ready, policies
        enforced (the NFQUEUE has its reader)."""
        s = self.s
        if not s.admin_kubeconfig.exists():
            return False
        if any(running(s.pids, n) is None for n in CONTROL_PLANE + NODE):
            return False
        # The enforcer's process alone proves nothing: it must be reading its queue.
        return self.apiserver_ready() and self.node_ready() and netpol.queue_bound()

    def write_status(self, phase: str) -> None:
        doc = {
            "phase": phase,
            "kubeconfig": str(self.s.admin_kubeconfig),
            "server": commands.server_url(self.s),
            "node": NODE_NAME,
            "logs": str(self.s.logs),
            "kubectl": str(self.s.binary("kubectl")),
            "pids": {n: p.pid for n in ALL if (p := running(self.s.pids, n)) is not None},
        }
        (self.s.state / "status.json").write_text(json.dumps(doc, indent=2) + "\n")

    def status_text(self) -> str:
        lines = []
        for name in ALL:
            proc = running(self.s.pids, name)
            lines.append(f"{name:24} {'running pid ' + str(proc.pid) if proc else 'stopped'}")
        return "\n".join(lines)

    def failure_report(self, exc: Exception) -> str:
        parts = [str(exc)]
        for name in ALL:
            if running(self.s.pids, name) is None and self.log(name).exists():
                parts.append(f"--- {self.log(name)} (not running), last lines:")
                parts.append(log_tail(self.log(name), 15))
        return "\n".join(parts)

    # --- processes and containers ---------------------------------------------------------------
    def stop_named(self, *names: str) -> None:
        for name in names:
            proc = running(self.s.pids, name)
            if proc is not None:
                say(f"stopping {name} (pid {proc.pid})")
                stop(proc, sig=netpol.stop_signal if name == netpol.NAME else signal.SIGTERM)
            (self.s.pids / f"{name}.pid").unlink(missing_ok=True)

    def ctr(self, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["ctr", "--address", str(self.s.containerd_sock), "--namespace", ns, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)

    def ctr_tasks(self, ns: str) -> list[str]:
        if running(self.s.pids, "containerd") is None:
            return []
        out = self.ctr(ns, "tasks", "list", "--quiet")
        return out.stdout.split() if out.returncode == 0 else []
