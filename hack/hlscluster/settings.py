"""Pinned versions, ports and paths of the local cluster: pure data, no I/O."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

K8S_VERSION = "v1.33.13"
ETCD_VERSION = "v3.5.21"  # the version k8s.io/kubernetes v1.33.13 itself requires
HELM_VERSION = "v3.18.6"
COREDNS_VERSION = "v1.12.1"
# The S3-compatible server the tests run (Apache-2.0; MinIO's server is AGPL).
VERSITYGW_VERSION = "v1.8.0"
# Enforces NetworkPolicy with nftables + NFQUEUE (the CNI bridge plugin enforces nothing).
NETPOL_VERSION = "v0.8.0"
NETPOL_MODULE = "sigs.k8s.io/kube-network-policies"
NETPOL_QUEUE = 100  # the NFQUEUE number kube-network-policies reads verdicts from
NETPOL_TABLE = "kube-network-policies"  # its nftables table (family inet)
DEBIAN_SUITE = "bookworm"

NODE_NAME = "hlsforge-node"
# The CNI bridge's gateway address doubles as the node address: it exists only on this
# machine (a bridge with nothing but pod veths on it), pods can reach it, and the kubelet
# refuses a loopback node IP.
BRIDGE_NAME = "hlsforge0"
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
DNS_IP = NODE_IP  # CoreDNS runs on the node, not as a pod (there is no image to pull)
SERVICE_CIDR = "10.96.0.0/12"
SERVICE_IP = "10.96.0.1"  # first address of SERVICE_CIDR: the `kubernetes` service
CLUSTER_DOMAIN = "cluster.local"

PAUSE_IMAGE = "hlsforge.local/pause:1"
S3_IMAGE = "hlsforge.local/versitygw:" + VERSITYGW_VERSION
"""The S3 server as an image (the static binary alone), for S3 tests on the cluster."""
BASE_IMAGE = f"hlsforge.local/base:{DEBIAN_SUITE}"

K8S_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kube-proxy",
    "kubelet",
)


@dataclass(frozen=True)
class Ports:
    """Loopback ports, chosen away from the Kubernetes defaults so nothing collides."""

    etcd_client: int = 12379
    etcd_peer: int = 12380
    apiserver: int = 16443
    controller_manager: int = 20257
    scheduler: int = 20259
    kubelet: int = 20250
    kubelet_healthz: int = 20248
    kube_proxy_healthz: int = 20256
    kube_proxy_metrics: int = 20249
    coredns_ready: int = 20181
    netpol_metrics: int = 20280


@dataclass(frozen=True)
class Settings:
    """Where things live. Caches outlive `down`; state does not."""

    repo: Path
    cache: Path
    state: Path
    ports: Ports = field(default_factory=Ports)

    @classmethod
    def from_env(cls, repo: Path, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if env is None else env
        home = Path(env.get("HOME", "/root"))
        cache = Path(env.get("HLSFORGE_CACHE", str(home / ".cache" / "hlsforge")))
        state = Path(env.get("HLSFORGE_STATE", "/var/lib/hlsforge-cluster"))
        return cls(repo=repo, cache=cache, state=state)

    # --- caches (kept across `down`) -------------------------------------------------------
    @property
    def k8s_bin(self) -> Path:
        return self.cache / "k8s" / K8S_VERSION / "bin"

    @property
    def etcd_bin(self) -> Path:
        return self.cache / "etcd" / ETCD_VERSION / "bin"

    @property
    def helm_bin(self) -> Path:
        return self.cache / "helm" / HELM_VERSION / "bin"

    @property
    def coredns_bin(self) -> Path:
        return self.cache / "coredns" / COREDNS_VERSION / "bin"

    @property
    def versitygw_bin(self) -> Path:
        return self.cache / "versitygw" / VERSITYGW_VERSION / "bin"

    @property
    def netpol_bin(self) -> Path:
        return self.cache / "kube-network-policies" / NETPOL_VERSION / "bin"

    @property
    def images_cache(self) -> Path:
        return self.cache / "images"

    @property
    def build_module(self) -> Path:
        return self.repo / "hack" / "k8s-build"

    # --- state (removed by `down`) --------------------------------------------------------
    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def config(self) -> Path:
        return self.state / "config"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def containerd_sock(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def docker_sock(self) -> Path:
        return self.run / "docker.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "admin.kubeconfig"

    def kubeconfig(self, user: str) -> Path:
        return self.config / f"{user}.kubeconfig"

    def binary(self, name: str) -> Path:
        if name == "etcd":
            return self.etcd_bin / "etcd"
        if name == "helm":
            return self.helm_bin / "helm"
        if name == "coredns":
            return self.coredns_bin / "coredns"
        if name == "versitygw":
            return self.versitygw_bin / "versitygw"
        if name == "kube-network-policies":
            return self.netpol_bin / "kube-network-policies"
        if name == "pause":
            return self.k8s_bin / "pause"
        return self.k8s_bin / name
