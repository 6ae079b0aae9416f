"""Who is who on the cluster: the leaf certificates the cluster CA signs, and the users that
get a kubeconfig (pure; pki.py runs openssl on these)."""

from __future__ import annotations

from dataclasses import dataclass

from .settings import CLUSTER_DOMAIN, NODE_IP, NODE_NAME, SERVICE_IP


@dataclass(frozen=True)
class CertSpec:
    """One leaf certificate signed by the cluster CA."""

    name: str
    common_name: str
    organization: str | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    server: bool = False
    client: bool = True

    def subject(self) -> str:
        org = f"/O={self.organization}" if self.organization else ""
        return f"{org}/CN={self.common_name}"

    def extensions(self) -> str:
        """An `openssl x509 -extfile` section for this certificate."""
        usages = [u for u, on in (("serverAuth", self.server), ("clientAuth", self.client)) if on]
        lines = [
            "basicConstraints = critical, CA:FALSE",
            "keyUsage = critical, digitalSignature, keyEncipherment",
            f"extendedKeyUsage = {', '.join(usages)}",
        ]
        alt = [f"DNS:{d}" for d in self.dns_names] + [f"IP:{i}" for i in self.ip_addresses]
        if alt:
            lines.append(f"subjectAltName = {', '.join(alt)}")
        return "\n".join(lines) + "\n"


APISERVER_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
)

# User name (kubeconfig file stem) -> certificate. The subjects are what RBAC and the Node
# authorizer look at: system:masters is cluster-admin, system:node:<name> in system:nodes is
# the kubelet's identity, the system:kube-* names have built-in ClusterRoleBindings.
CERTS: tuple[CertSpec, ...] = (
    CertSpec(
        "apiserver",
        "kube-apiserver",
        dns_names=APISERVER_DNS,
        ip_addresses=("127.0.0.1", NODE_IP, SERVICE_IP),
        server=True,
        client=False,
    ),
    CertSpec("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
    CertSpec("admin", "hlsforge-admin", "system:masters"),
    CertSpec("controller-manager", "system:kube-controller-manager"),
    CertSpec("scheduler", "system:kube-scheduler"),
    CertSpec("kube-proxy", "system:kube-proxy", "system:node-proxier"),
    CertSpec("kubelet", f"system:node:{NODE_NAME}", "system:nodes"),
    CertSpec("coredns", "system:hlsforge:coredns"),
    CertSpec(
        "kubelet-serving",
        NODE_NAME,
        dns_names=(NODE_NAME, "localhost"),
        ip_addresses=(NODE_IP, "127.0.0.1"),
        server=True,
        client=False,
    ),
)

KUBECONFIG_USERS = ("admin", "controller-manager", "scheduler", "kube-proxy", "kubelet", "coredns")
