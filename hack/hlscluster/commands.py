"""Pure rendering of every component's command line, its PATH, and the addresses it binds
(no I/O here)."""

from __future__ import annotations

from .settings import CLUSTER_DOMAIN, DNS_IP, NODE_IP, NODE_NAME, SERVICE_CIDR, Settings


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


def coredns_args(s: Settings) -> list[str]:
    return [str(s.binary("coredns")), "-conf", str(s.config / "Corefile")]


def path_env(s: Settings, base: str) -> str:
    """PATH for the components: our binaries first, then sbin for iptables/mount/ip."""
    parts = [str(s.k8s_bin), "/usr/local/sbin", "/usr/sbin", "/sbin", base]
    return ":".join(p for p in parts if p)


def server_url(s: Settings) -> str:
    return f"https://127.0.0.1:{s.ports.apiserver}"


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
