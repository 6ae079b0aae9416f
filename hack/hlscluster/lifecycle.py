"""`up` and `down`: process I/O around the pure pieces in render.py."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import images, netpol, pki, render
from .build import ensure_binaries, ensure_coredns, ensure_helm, ensure_netpol
from .procs import (
    ClusterError,
    Proc,
    client_context,
    http_ok,
    insecure_context,
    log_tail,
    pids_with_arg,
    port_free,
    running,
    spawn,
    stop,
    tcp_open,
    wait_for,
)
from .settings import BRIDGE_NAME, NODE_IP, NODE_NAME, POD_CIDR, Settings

REQUIRED_TOOLS = (
    "/usr/bin/containerd",
    "/usr/sbin/runc",
    "/usr/bin/ctr",
    "/usr/bin/socat",
    "/usr/lib/cni/bridge",
    "/usr/lib/cni/host-local",
    "/usr/lib/cni/loopback",
    "/usr/sbin/iptables",
    "/usr/sbin/conntrack",
    "/usr/bin/openssl",
    "/usr/sbin/debootstrap",
    "/usr/sbin/nft",
    "/usr/bin/unshare",
)

APT_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "docker.io",
    "debootstrap",
    "iptables",
    "conntrack",
    "socat",
    "openssl",
    "iproute2",
    "ca-certificates",
    "nftables",
)

# Start order; `down` stops in reverse (with the pod clean-up in between).
CONTROL_PLANE = ("etcd", "kube-apiserver", "apiserver-forward", "kube-controller-manager",
                 "kube-scheduler")  # fmt: skip
NODE = ("containerd", "coredns", "kubelet", "kube-proxy", netpol.NAME)
OPTIONAL = ("dockerd",)
ALL = CONTROL_PLANE + NODE + OPTIONAL


def say(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


@dataclass
class Cluster:
    s: Settings

    # --- helpers --------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "GO"))}
        env["PATH"] = render.path_env(self.s, env.get("PATH", "/usr/bin:/bin"))
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
        url = f"{render.server_url(self.s)}/readyz"
        return http_ok(url, self.admin_ctx())

    def start(
        self, name: str, argv: list[str], healthy: Callable[[], bool], timeout: float
    ) -> Proc:
        proc = running(self.s.pids, name)
        if proc is None:
            busy = [f"{h}:{p}" for h, p in render.listen_ports(self.s, name) if not port_free(h, p)]
            if busy:
                raise ClusterError(
                    f"cannot start {name}: {', '.join(busy)} already in use by a process this"
                    f" script did not start (another cluster? see `ss -ltnp`)"
                )
            say(f"starting {name}")
            proc = spawn(name, argv, self.s.pids, self.s.logs, self.env())
        wait_for(f"{name} to be healthy", healthy, timeout, self.log(name), proc)
        return proc

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
        for user in render.KUBECONFIG_USERS:
            text = render.kubeconfig(
                render.server_url(s),
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
        _write_changed(s.config / "containerd.toml", render.containerd_config(s))
        _write_changed(s.config / "cni" / "10-hlsforge.conflist", render.cni_conflist(s))
        _write_changed(s.config / "kubelet.json", render.kubelet_config(s))
        _write_changed(s.config / "kube-proxy.json", render.kube_proxy_config(s))
        _write_changed(s.config / "Corefile", render.corefile(s))

    def prepare_host(self) -> None:
        """The pod bridge carries NODE_IP before the kubelet binds to it."""
        if subprocess.run(["ip", "link", "show", BRIDGE_NAME], capture_output=True).returncode:
            subprocess.run(["ip", "link", "add", BRIDGE_NAME, "type", "bridge"], check=True)
        addrs = subprocess.run(
            ["ip", "-4", "addr", "show", "dev", BRIDGE_NAME], capture_output=True, text=True
        ).stdout
        if f"{NODE_IP}/" not in addrs:
            prefix = POD_CIDR.split("/")[1]
            cmd = ["ip", "addr", "add", f"{NODE_IP}/{prefix}", "dev", BRIDGE_NAME]
            subprocess.run(cmd, check=True)
        subprocess.run(["ip", "link", "set", BRIDGE_NAME, "up"], check=True)
        knob = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
        if knob.exists():
            knob.write_text("1\n")
        guard_pod_egress()

    # --- components ------------------------------------------------------------------------
    def up_control_plane(self) -> None:
        s = self.s
        etcd_health = f"http://127.0.0.1:{s.ports.etcd_client}/health"
        self.start("etcd", render.etcd_args(s), lambda: http_ok(etcd_health), 60)
        self.start("kube-apiserver", render.apiserver_args(s), self.apiserver_ready, 120)
        fwd = (NODE_IP, s.ports.apiserver)
        self.start("apiserver-forward", render.apiserver_forward_args(s),
                   lambda: tcp_open(*fwd), 10)  # fmt: skip
        ins = insecure_context()
        cm = f"https://127.0.0.1:{s.ports.controller_manager}/healthz"
        self.start("kube-controller-manager", render.controller_manager_args(s),
                   lambda: http_ok(cm, ins), 90)  # fmt: skip
        sch = f"https://127.0.0.1:{s.ports.scheduler}/healthz"
        self.start("kube-scheduler", render.scheduler_args(s), lambda: http_ok(sch, ins), 90)

    def containerd_ready(self) -> bool:
        argv = ["ctr", "--address", str(self.s.containerd_sock), "version"]
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0

    def up_node(self) -> None:
        s = self.s
        self.start("containerd", render.containerd_args(s), self.containerd_ready, 60)
        images.ensure_node_images(s)
        self.kubectl("apply", "-f", "-", input_text=json.dumps(render.COREDNS_RBAC))
        ready = f"http://127.0.0.1:{s.ports.coredns_ready}/ready"
        self.start("coredns", render.coredns_args(s), lambda: http_ok(ready), 60)
        kl = f"http://127.0.0.1:{s.ports.kubelet_healthz}/healthz"
        self.start("kubelet", render.kubelet_args(s), lambda: http_ok(kl), 120)
        kp = f"http://127.0.0.1:{s.ports.kube_proxy_healthz}/healthz"
        self.start("kube-proxy", render.kube_proxy_args(s), lambda: http_ok(kp), 90)
        self.up_netpol()

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

        self.start("dockerd", render.dockerd_args(s), ok, 60)
        images.ensure_docker_base(s)

    def node_ready(self) -> bool:
        got = self.kubectl(
            "get", "node", NODE_NAME, "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False,
        )  # fmt: skip
        return got.returncode == 0 and got.stdout.strip() == "True"

    def default_sa(self) -> bool:
        return self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0

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
        self.prepare_host()
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

    def write_status(self, phase: str) -> None:
        doc = {
            "phase": phase,
            "kubeconfig": str(self.s.admin_kubeconfig),
            "server": render.server_url(self.s),
            "node": NODE_NAME,
            "logs": str(self.s.logs),
            "kubectl": str(self.s.binary("kubectl")),
            "pids": {n: p.pid for n in ALL if (p := running(self.s.pids, n)) is not None},
        }
        (self.s.state / "status.json").write_text(json.dumps(doc, indent=2) + "\n")

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

    # --- down ------------------------------------------------------------------------------
    def stop_named(self, *names: str) -> None:
        for name in names:
            proc = running(self.s.pids, name)
            if proc is not None:
                say(f"stopping {name} (pid {proc.pid})")
                stop(proc, sig=netpol.stop_signal if name == netpol.NAME else signal.SIGTERM)
            (self.s.pids / f"{name}.pid").unlink(missing_ok=True)

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

    def ctr(self, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["ctr", "--address", str(self.s.containerd_sock), "--namespace", ns, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)

    def ctr_tasks(self, ns: str) -> list[str]:
        if running(self.s.pids, "containerd") is None:
            return []
        out = self.ctr(ns, "tasks", "list", "--quiet")
        return out.stdout.split() if out.returncode == 0 else []

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
        for path in [*netns, *orphan_cni_netns()]:
            subprocess.run(["umount", path], capture_output=True, check=False)
            Path(path).unlink(missing_ok=True)
        unmount_under(s.state)
        subprocess.run(["ip", "link", "delete", BRIDGE_NAME], capture_output=True, check=False)
        remove_kubepods_cgroups()
        for tool in ("iptables", "ip6tables"):
            remove_kube_chains(tool)
        unguard_pod_egress()
        for child in s.state.iterdir() if s.state.exists() else []:
            if child.name != "logs":
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        say(f"cluster down; logs kept in {s.logs}")

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


def missing_apt_packages() -> list[str]:
    return [
        pkg
        for pkg in APT_PACKAGES
        if subprocess.run(["dpkg", "-s", pkg], capture_output=True).returncode != 0
    ]


def install_apt_packages() -> None:
    """Idempotent: apt-get only runs when a package is missing (fresh machine)."""
    missing = missing_apt_packages()
    if not missing:
        return
    say(f"installing apt packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


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


def unmount_under(root: Path) -> None:
    """Unmount every mount point below root, deepest first (pod volumes, overlay rootfs)."""
    prefix = str(root.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def orphan_cni_netns() -> list[str]:
    """CRI pod network namespaces (/run/netns/cni-*) that no process is in any more.

    After a hard stop (reboot aside: /run is a tmpfs) containerd cannot tell us its pods'
    namespaces; those left unused keep their veths on the bridge until unmounted.
    """
    in_use: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                in_use.add((entry / "ns" / "net").stat().st_ino)
    orphans = []
    for ns in Path("/run/netns").glob("cni-*"):
        with contextlib.suppress(OSError):
            if ns.stat().st_ino not in in_use:
                orphans.append(str(ns))
    return orphans


def remove_kubepods_cgroups() -> None:
    """The kubelet's QoS cgroups (kubepods/...) in every v1 hierarchy; empty ones only."""
    for top in Path("/sys/fs/cgroup").glob("*/kubepods"):
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for d in [*dirs, top]:
            with contextlib.suppress(OSError):
                d.rmdir()


def kube_chain_cleanup(save_output: str) -> list[list[str]]:
    """Commands removing the KUBE-* chains and the jumps to them from one table (pure).

    `kube-proxy --cleanup` leaves the kubelet's chains (KUBE-FIREWALL, canaries) and a few of
    its own; only this cluster creates KUBE-* chains on these machines.
    """
    deletes: list[list[str]] = []
    chains: list[str] = []
    for line in save_output.splitlines():
        if line.startswith(":KUBE-"):
            chains.append(line[1:].split()[0])
        elif line.startswith("-A ") and "KUBE-" in line:
            words = shlex.split(line)
            if not words[1].startswith("KUBE-"):
                deletes.append(["-D", *words[1:]])
    return deletes + [["-F", c] for c in chains] + [["-X", c] for c in chains]


def remove_kube_chains(tool: str) -> None:
    for table in ("filter", "nat", "mangle"):
        saved = subprocess.run(
            [f"{tool}-save", "-t", table], capture_output=True, text=True, check=False
        )
        if saved.returncode != 0:
            continue
        for args in kube_chain_cleanup(saved.stdout):
            subprocess.run([tool, "-t", table, *args], capture_output=True, check=False)


EGRESS_CHAIN = "HLSFORGE-POD-EGRESS"


def egress_rules() -> list[list[str]]:
    """Pods may talk to pods and to this machine only (pure): the CNI bridge plugin turns on
    IP forwarding for its gateway, so forwarded traffic leaving the pod range is dropped."""
    return [
        ["-A", EGRESS_CHAIN, "-d", POD_CIDR, "-j", "RETURN"],
        ["-A", EGRESS_CHAIN, "-j", "DROP"],
    ]


def guard_pod_egress() -> None:
    ipt = ["iptables", "-t", "filter"]
    jump = ["FORWARD", "-s", POD_CIDR, "-j", EGRESS_CHAIN]
    if subprocess.run([*ipt, "-C", *jump], capture_output=True).returncode == 0:
        return
    subprocess.run([*ipt, "-N", EGRESS_CHAIN], capture_output=True, check=False)
    subprocess.run([*ipt, "-F", EGRESS_CHAIN], check=True)
    for rule in egress_rules():
        subprocess.run([*ipt, *rule], check=True)
    subprocess.run([*ipt, "-I", *jump], check=True)


def unguard_pod_egress() -> None:
    ipt = ["iptables", "-t", "filter"]
    jump = ["FORWARD", "-s", POD_CIDR, "-j", EGRESS_CHAIN]
    while subprocess.run([*ipt, "-D", *jump], capture_output=True).returncode == 0:
        pass
    subprocess.run([*ipt, "-F", EGRESS_CHAIN], capture_output=True, check=False)
    subprocess.run([*ipt, "-X", EGRESS_CHAIN], capture_output=True, check=False)
