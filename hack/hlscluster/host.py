"""What the cluster changes on the host outside its state folder, and how `down` undoes it:
the pod bridge, the guard on pod egress, the KUBE-* iptables chains, mounts, network
namespaces and cgroups. The rule builders are pure; the rest runs ip/iptables/umount.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
from pathlib import Path

from .settings import BRIDGE_NAME, NODE_IP, POD_CIDR


def prepare() -> None:
    """The pod bridge carries NODE_IP before the kubelet binds to it; forwarded pod traffic
    may not leave the pod range (guard_pod_egress)."""
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


def delete_bridge() -> None:
    subprocess.run(["ip", "link", "delete", BRIDGE_NAME], capture_output=True, check=False)


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
