"""Pure rendering of every config file and command line of the cluster (no I/O here).

JSON is valid YAML, so the Kubernetes config files are written as JSON: no YAML library is
needed and quoting is never ambiguous.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from .settings import (
    BRIDGE_NAME,
    CLUSTER_DOMAIN,
    DNS_IP,
    NODE_IP,
    NODE_NAME,
    PAUSE_IMAGE,
    POD_CIDR,
    SERVICE_CIDR,
    SERVICE_IP,
    Settings,
)


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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def kubeconfig(server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, user: str) -> str:
    """A self-contained kubeconfig (certificates embedded, so it can be copied anywhere)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hlsforge",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(cert_pem),
                    "client-key-data": _b64(key_pem),
                },
            }
        ],
        "contexts": [{"name": "hlsforge", "context": {"cluster": "hlsforge", "user": user}}],
        "current-context": "hlsforge",
        "preferences": {},
    }
    return json.dumps(doc, indent=2) + "\n"


def containerd_config(s: Settings) -> str:
    """containerd 1.6 (Debian bookworm) config, version 2 schema, private root and socket."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{s.state / "containerd" / "root"}"
state = "{s.run / "containerd"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "{s.containerd_sock}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{s.state / "containerd" / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE in this VM's sandbox: runc cannot lower oom_score_adj below ours
  # (the pause container asks for -998), so clamp instead of failing every sandbox.
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{s.config / "cni"}"
"""


def cni_conflist(s: Settings) -> str:
    """bridge + host-local on POD_CIDR; containerd adds loopback itself."""
    doc = {
        "cniVersion": "0.4.0",
        "name": "hlsforge",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE_NAME,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(s.state / "cni-ipam"),
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def kubelet_config(s: Settings) -> str:
    p = s.pki
    doc = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": s.ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": s.ports.kubelet_healthz,
        "tlsCertFile": str(p / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(p / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(p / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{s.containerd_sock}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_IP],
        "podCIDR": POD_CIDR,
        "resolvConf": "/etc/resolv.conf",
        "registerNode": True,
        "serializeImagePulls": False,
        # Images are imported, not pulled: the image GC must never delete them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%"},
        "evictionPressureTransitionPeriod": "10s",
        "makeIPTablesUtilChains": True,
        "maxPods": 110,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
    }
    return json.dumps(doc, indent=2) + "\n"


def kube_proxy_config(s: Settings) -> str:
    doc = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(s.kubeconfig("kube-proxy"))},
        "hostnameOverride": NODE_NAME,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{s.ports.kube_proxy_healthz}",
        "metricsBindAddress": f"127.0.0.1:{s.ports.kube_proxy_metrics}",
        "clusterCIDR": POD_CIDR,
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "conntrack": {"maxPerCore": 0, "min": 0},
    }
    return json.dumps(doc, indent=2) + "\n"


def etcd_args(s: Settings) -> list[str]:
    client = f"http://127.0.0.1:{s.ports.etcd_client}"
    peer = f"http://127.0.0.1:{s.ports.etcd_peer}"
    return [
        str(s.binary("etcd")),
        "--name=hlsforge",
        f"--data-dir={s.state / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=hlsforge={peer}",
        "--initial-cluster-state=new",
        "--listen-metrics-urls=",
        "--unsafe-no-fsync",  # a throw-away test cluster: speed over durability
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def apiserver_args(s: Settings) -> list[str]:
    p = s.pki
    return [
        str(s.binary("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{s.ports.etcd_client}",
        "--bind-address=127.0.0.1",
        f"--secure-port={s.ports.apiserver}",
        f"--advertise-address={NODE_IP}",
        f"--tls-cert-file={p / 'apiserver.crt'}",
        f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
        f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={p / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--cert-dir={s.state / 'apiserver-certs'}",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_args(s: Settings) -> list[str]:
    p = s.pki
    kc = s.kubeconfig("controller-manager")
    return [
        str(s.binary("kube-controller-manager")),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={s.ports.controller_manager}",
        f"--cert-dir={s.state / 'controller-manager-certs'}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={p / 'sa.key'}",
        f"--root-ca-file={p / 'ca.crt'}",
        f"--cluster-signing-cert-file={p / 'ca.crt'}",
        f"--cluster-signing-key-file={p / 'ca.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allocate-node-cidrs=false",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_args(s: Settings) -> list[str]:
    kc = s.kubeconfig("scheduler")
    return [
        str(s.binary("kube-scheduler")),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={s.ports.scheduler}",
        f"--cert-dir={s.state / 'scheduler-certs'}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def containerd_args(s: Settings) -> list[str]:
    return ["/usr/bin/containerd", f"--config={s.config / 'containerd.toml'}"]


def dockerd_args(s: Settings) -> list[str]:
    """dockerd for image builds only: no bridge, no iptables changes, our containerd."""
    return [
        "/usr/sbin/dockerd",
        f"--data-root={s.state / 'docker'}",
        f"--exec-root={s.run / 'docker'}",
        f"--host=unix://{s.docker_sock}",
        f"--pidfile={s.run / 'dockerd.pid'}",
        f"--containerd={s.containerd_sock}",
        "--bridge=none",
        "--iptables=false",
        "--ip-masq=false",
        "--ip-forward=false",
    ]


def kubelet_args(s: Settings) -> list[str]:
    return [
        str(s.binary("kubelet")),
        f"--config={s.config / 'kubelet.json'}",
        f"--kubeconfig={s.kubeconfig('kubelet')}",
        f"--root-dir={s.kubelet_root}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        "--v=1",
    ]


def kube_proxy_args(s: Settings) -> list[str]:
    return [str(s.binary("kube-proxy")), f"--config={s.config / 'kube-proxy.json'}", "--v=1"]


def apiserver_forward_args(s: Settings) -> list[str]:
    """Pods reach the `kubernetes` service at NODE_IP:port; the apiserver binds loopback only."""
    port = s.ports.apiserver
    return [
        "/usr/bin/socat",
        f"TCP-LISTEN:{port},bind={NODE_IP},reuseaddr,fork",
        f"TCP:127.0.0.1:{port}",
    ]


def path_env(s: Settings, base: str) -> str:
    """PATH for the components: our binaries first, then sbin for iptables/mount/ip."""
    parts = [str(s.k8s_bin), "/usr/local/sbin", "/usr/sbin", "/sbin", base]
    return ":".join(p for p in parts if p)


def server_url(s: Settings) -> str:
    return f"https://127.0.0.1:{s.ports.apiserver}"


def corefile(s: Settings) -> str:
    """Cluster names only: nothing is forwarded off this machine (other names: NXDOMAIN)."""
    kc = s.kubeconfig("coredns")
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {DNS_IP}
    errors
    ready 127.0.0.1:{s.ports.coredns_ready}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kc} hlsforge
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
.:53 {{
    bind {DNS_IP}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""


COREDNS_RBAC = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "hlsforge:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "hlsforge:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "hlsforge:coredns",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": "system:hlsforge:coredns",
                }
            ],
        },
    ],
}


def coredns_args(s: Settings) -> list[str]:
    return [str(s.binary("coredns")), "-conf", str(s.config / "Corefile")]


def listen_ports(s: Settings, name: str) -> list[tuple[str, int]]:
    """TCP addresses a component binds, checked free before it starts (pure)."""
    lo, pt = "127.0.0.1", s.ports
    table: dict[str, list[tuple[str, int]]] = {
        "etcd": [(lo, pt.etcd_client), (lo, pt.etcd_peer)],
        "kube-apiserver": [(lo, pt.apiserver)],
        "apiserver-forward": [(NODE_IP, pt.apiserver)],
        "kube-controller-manager": [(lo, pt.controller_manager)],
        "kube-scheduler": [(lo, pt.scheduler)],
        "coredns": [(DNS_IP, 53), (lo, pt.coredns_ready)],
        "kubelet": [(NODE_IP, pt.kubelet), (lo, pt.kubelet_healthz)],
        "kube-proxy": [(lo, pt.kube_proxy_healthz), (lo, pt.kube_proxy_metrics)],
        "kube-network-policies": [(lo, pt.netpol_metrics)],
    }
    return table.get(name, [])
