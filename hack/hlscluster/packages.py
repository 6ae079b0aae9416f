"""What `up` needs on the host: the Debian packages and the tools it checks for."""

from __future__ import annotations

import os
import subprocess

from .procs import say

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
