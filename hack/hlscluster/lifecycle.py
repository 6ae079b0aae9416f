"""`up` and `down`: process I/O around the pure pieces in commands.py, in the order that makes
each idempotent (`up` on a running cluster leaves it alone; `down` after a crash still
cleans up)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import certs, commands, configs, host, images, netpol, pki
from .build import ensure_binaries, ensure_coredns, ensure_helm, ensure_netpol
from .packages import REQUIRED_TOOLS, install_apt_packages
from .procs import (
    ClusterError,
    http_ok,
    insecure_context,
    pids_with_arg,
    port_free,
    running,
    say,
    stop,
    tcp_open,
    wait_for,
)
from .running import ALL, CONTROL_PLANE, RunningCluster
from .settings import NODE_IP, NODE_NAME, Settings

RESTART_ALIASES = {"apiserver": "kube-apiserver"}
"""Short names `restart` accepts besides the components' own."""


class Cluster(RunningCluster):
    """The running cluster plus what brings it up and takes it down."""

    # --- preparation ----------------------------------------------------------------------
    def check_tools(self) -> None:
        if os.geteuid() != 0:
            raise ClusterError("the cluster needs root (containerd, kubelet, iptables)")
        if any(not Path(t).exists() for t in REQUIRED_TOOLS):
            install_apt_packages()
        missing = [t for t in REQUIRED_TOOLS if not Path(t).exists()]
        if missing:
            raise ClusterError(f"still missing after apt-get install: {', '.join(missing)}")

    def stale(self) -> bool:
        pids = self.s.pids
        recorded = pids.is_dir() and any(pids.glob("*.pid"))
        return recorded and not any(running(pids, n) for n in ALL)

    def prepare_state(self) -> None:
        s = self.s
        for d in (s.state, s.config, s.run, s.pids, s.logs, s.config / "cni", s.kubelet_root):
            d.mkdir(parents=True, exist_ok=True)
        if not any(running(s.pids, n) for n in ALL):
            self.rotate_logs()
        pki.ensure_pki(s.pki)
        self.write_configs()

    def rotate_logs(self) -> None:
        old = self.s.logs / "previous"
        shutil.rmtree(old, ignore_errors=True)
        logs = list(self.s.logs.glob("*.log"))
        if logs:
            old.mkdir()
            for log in logs:
                log.rename(old / log.name)

    def write_configs(self) -> None:
        s, p = self.s, self.s.pki
        ca = (p / "ca.crt").read_bytes()
        for user in certs.KUBECONFIG_USERS:
            text = configs.kubeconfig(
                commands.server_url(s),
                ca,
                (p / f"{user}.crt").read_bytes(),
                (p / f"{user}.key").read_bytes(),
                user,
            )
            _write_private(s.kubeconfig(user), text)
        _write_private(s.admin_kubeconfig, s.kubeconfig("admin").read_text())
        # Unchanged files are not rewritten: kube-proxy exits when its config file is written
        # to ("content of the proxy server's configuration file was updated"), and `up` on a
        # running cluster must leave running components alone.
        _write_changed(s.config / "containerd.toml", configs.containerd_config(s))
        _write_changed(s.config / "cni" / "10-hlsforge.conflist", configs.cni_conflist(s))
        _write_changed(s.config / "kubelet.json", configs.kubelet_config(s))
        _write_changed(s.config / "kube-proxy.json", configs.kube_proxy_config(s))
        _write_changed(s.config / "Corefile", configs.corefile(s))

    # --- components ------------------------------------------------------------------------
    def launch(self, name: str) -> tuple[list[str], Callable[[], bool], float]:
        """How `up` starts the component `name` (and `restart` starts it again): its command
        line, its health check and the seconds it may take to pass."""
        s, pt, ins = self.s, self.s.ports, insecure_context()

        def get(url: str, ctx: ssl.SSLContext | None = None) -> Callable[[], bool]:
            return lambda: http_ok(url, ctx)

        lo, tls = "http://127.0.0.1", "https://127.0.0.1"
        table: dict[str, tuple[Callable[[Settings], list[str]], Callable[[], bool], float]] = {
            "etcd": (commands.etcd_args, get(f"{lo}:{pt.etcd_client}/health"), 60),
            "kube-apiserver": (commands.apiserver_args, self.apiserver_ready, 120),
            "apiserver-forward": (
                commands.apiserver_forward_args, lambda: tcp_open(NODE_IP, pt.apiserver), 10),
            "kube-controller-manager": (
                commands.controller_manager_args,
                get(f"{tls}:{pt.controller_manager}/healthz", ins), 90),
            "kube-scheduler": (
                commands.scheduler_args, get(f"{tls}:{pt.scheduler}/healthz", ins), 90),
            "containerd": (commands.containerd_args, self.containerd_ready, 60),
            "coredns": (commands.coredns_args, get(f"{lo}:{pt.coredns_ready}/ready"), 60),
            "kubelet": (commands.kubelet_args, get(f"{lo}:{pt.kubelet_healthz}/healthz"), 120),
            "kube-proxy": (
                commands.kube_proxy_args, get(f"{lo}:{pt.kube_proxy_healthz}/healthz"), 90),
        }  # fmt: skip
        if name not in table:
            raise ClusterError(f"no component {name!r}; one of {', '.join(table)}")
        args, healthy, timeout = table[name]
        return args(s), healthy, timeout

    def start_component(self, name: str) -> None:
        self.start(name, *self.launch(name))

    def up_control_plane(self) -> None:
        for name in CONTROL_PLANE:
            self.start_component(name)

    def containerd_ready(self) -> bool:
        argv = ["ctr", "--address", str(self.s.containerd_sock), "version"]
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0

    def up_node(self) -> None:
        s = self.s
        self.start_component("containerd")
        images.ensure_node_images(s)
        self.kubectl("apply", "-f", "-", input_text=json.dumps(configs.COREDNS_RBAC))
        for name in ("coredns", "kubelet", "kube-proxy"):
            self.start_component(name)
        self.up_netpol()

    def restart(self, name: str) -> float:
        """Stop ONE component of a healthy cluster and start it again with the same command
        line, then wait until the whole cluster is healthy; returns the seconds it took.
        Running pods survive a kubelet or containerd restart (their shims keep running)."""
        name = RESTART_ALIASES.get(name, name)
        self.launch(name)  # an unknown name fails before anything is stopped
        if not self.healthy():
            raise ClusterError("the cluster is not up and healthy; `restart` only restarts")
        began = time.monotonic()
        self.stop_named(name)
        # A Go process is gone from /proc's view a moment before its last thread has closed
        # its sockets: start again only once its ports are free.
        ports = commands.listen_ports(self.s, name)
        wait_for(f"{name}'s ports to be released",
                 lambda: all(port_free(h, p) for h, p in ports), 30, self.log(name))  # fmt: skip
        self.start_component(name)
        wait_for("the cluster to be healthy again", self.healthy, 120, self.log(name))
        took = time.monotonic() - began
        self.write_status("up")
        say(f"{name} restarted; cluster healthy again in {took:.1f}s")
        return took

    def up_netpol(self) -> None:
        """NetworkPolicy enforcement (see netpol.py); startable alone on a running cluster."""
        s = self.s
        self.kubectl("apply", "-f", "-", input_text=json.dumps(netpol.rbac()))
        if running(s.pids, netpol.NAME) is None:
            netpol.delete_table()  # a killed predecessor's rules would drop without a reader
            token = self.kubectl("create", "token", netpol.NAME, "-n", netpol.NAMESPACE,
                                 f"--duration={netpol.TOKEN_HOURS}h").stdout  # fmt: skip
            netpol.write_credentials(s, token)
        metrics = f"http://127.0.0.1:{s.ports.netpol_metrics}/metrics"
        self.start(netpol.NAME, netpol.args(s),
                   lambda: http_ok(metrics) and netpol.queue_bound(), 60)  # fmt: skip
        netpol.install_queue_rules()

    def down_netpol(self) -> None:
        """Stops only the enforcer and removes every rule it and we added for it."""
        netpol.remove_queue_rules()
        self.stop_named(netpol.NAME)
        netpol.delete_table()
        shutil.rmtree(netpol.credentials_dir(self.s), ignore_errors=True)

    def up_docker(self) -> None:
        s = self.s
        ping = ["/usr/bin/docker", "--host", f"unix://{s.docker_sock}", "version"]

        def ok() -> bool:
            return subprocess.run(ping, capture_output=True, timeout=10).returncode == 0

        self.start("dockerd", commands.dockerd_args(s), ok, 60)
        images.ensure_docker_base(s)

    def up(self) -> None:
        began = time.monotonic()
        self.check_tools()
        built = ensure_binaries(self.s)
        ensures = (("helm", ensure_helm), ("coredns", ensure_coredns),
                   (netpol.NAME, ensure_netpol))  # fmt: skip
        for name, ensure in ensures:
            took = ensure(self.s)
            if took is not None:
                built[name] = took
        if built:
            say("build seconds: " + ", ".join(f"{k}={v:.0f}" for k, v in built.items()))
        if self.stale():
            say("state of an earlier run whose processes are all gone (reboot, killed session):")
            say("cleaning it up first (mounts, iptables, bridge, etcd data)")
            self.down()
        self.prepare_state()
        host.prepare()
        self.up_control_plane()
        wait_for("the default service account", self.default_sa, 90,
                 self.log("kube-controller-manager"))  # fmt: skip
        self.up_node()
        wait_for(f"node {NODE_NAME} Ready", self.node_ready, 120, self.log("kubelet"))
        try:
            self.up_docker()
        except (ClusterError, RuntimeError) as exc:
            say(f"WARNING: dockerd unavailable, image builds will fail: {exc}")
        self.write_status("up")
        say(f"cluster up in {time.monotonic() - began:.1f}s; KUBECONFIG={self.s.admin_kubeconfig}")

    # --- down ------------------------------------------------------------------------------
    def drain_pods(self) -> None:
        """Delete every pod while the kubelet still runs, so CRI tears sandboxes down."""
        if running(self.s.pids, "kube-apiserver") is None:
            return
        if running(self.s.pids, "kubelet") is None:
            return
        self.kubectl("delete", "pods", "--all", "--all-namespaces", "--force",
                     "--grace-period=0", "--wait=false", check=False)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.ctr_tasks("k8s.io"):
            time.sleep(1)

    def netns_paths(self) -> list[str]:
        paths: list[str] = []
        for cid in self.ctr("k8s.io", "containers", "list", "--quiet").stdout.split():
            info = self.ctr("k8s.io", "containers", "info", cid)
            with contextlib.suppress(ValueError, KeyError, TypeError):
                spaces = json.loads(info.stdout)["Spec"]["linux"]["namespaces"]
                paths += [n["path"] for n in spaces if n.get("type") == "network" and "path" in n]
        return paths

    def kill_containers(self) -> list[str]:
        """Whatever survived the drain: kill tasks and delete them and their containers."""
        if running(self.s.pids, "containerd") is None:
            return []
        netns = self.netns_paths()
        for ns in ("k8s.io", "moby"):
            for task in self.ctr_tasks(ns):
                self.ctr(ns, "tasks", "kill", "--signal", "SIGKILL", task)
            time.sleep(1)
            for task in self.ctr_tasks(ns):
                self.ctr(ns, "tasks", "delete", "--force", task)
            for cid in self.ctr(ns, "containers", "list", "--quiet").stdout.split():
                self.ctr(ns, "containers", "delete", cid)
        return netns

    def down(self) -> None:
        s = self.s
        self.stop_named("dockerd", "kube-controller-manager", "kube-scheduler")
        self.drain_pods()
        self.down_netpol()
        self.stop_named("kubelet", "kube-proxy", "coredns")
        netns = self.kill_containers()
        self.stop_named("containerd")
        for shim in pids_with_arg(str(s.containerd_sock), "containerd-shim-runc-v2"):
            stop(shim, timeout=5)
        self.stop_named("apiserver-forward", "kube-apiserver", "etcd")
        if s.binary("kube-proxy").exists():
            subprocess.run([str(s.binary("kube-proxy")), "--cleanup"], capture_output=True,
                           env=self.env(), check=False)  # fmt: skip
        for path in [*netns, *host.orphan_cni_netns()]:
            subprocess.run(["umount", path], capture_output=True, check=False)
            Path(path).unlink(missing_ok=True)
        host.unmount_under(s.state)
        host.delete_bridge()
        host.remove_kubepods_cgroups()
        for tool in ("iptables", "ip6tables"):
            host.remove_kube_chains(tool)
        host.unguard_pod_egress()
        for child in s.state.iterdir() if s.state.exists() else []:
            if child.name != "logs":
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        say(f"cluster down; logs kept in {s.logs}")


def _write_changed(path: Path, text: str) -> bool:
    """Write text unless the file already holds it; True when written."""
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def _write_private(path: Path, text: str) -> None:
    _write_changed(path, text)
    path.chmod(0o600)
