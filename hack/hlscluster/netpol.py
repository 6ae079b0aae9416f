"""NetworkPolicy enforcement on the node: kube-network-policies, and what it needs here.

The CNI bridge plugin enforces no NetworkPolicy, so without this component the chart's
transcoder policy would be decoration. kube-network-policies (sigs.k8s.io, pinned in
settings.py) reads the first packet of each connection from an NFQUEUE and accepts or drops
it by the policies it watches (pods without a policy are accepted).

What v0.8.0 does, and what this machine lacks, shape how it runs:

- It sends packets to its queue with nftables' `queue` expression, and this kernel has
  CONFIG_NFT_QUEUE unset: its whole nftables batch is refused ("syncing nftables rules"
  error=netlink receive: no such file or directory) and it would judge nothing. The kernel
  does have the iptables NFQUEUE target (xt_NFQUEUE) and nfnetlink_queue, so the chain
  HLSFORGE-NETPOL queues every new connection from or to a pod instead (FORWARD for pod to
  pod and pod to Service, INPUT for pod to node). The controller still keeps trying its own
  table and logs the refusal on every change; on a kernel with nft_queue its table appears
  too and such packets are judged twice, with the same verdict.
- Its own rules look at POSTROUTING only (DNS on PREROUTING). A pod's connection to an
  address of the node itself (the API server forward, the kubelet, CoreDNS, a Service
  DNAT-ed to them) goes PREROUTING -> INPUT and never reaches POSTROUTING, so it would never
  be judged even with nft_queue; the INPUT jump covers it.
- `--queue-bypass`: while the controller is not reading the queue, packets pass (fail open):
  the whole pod network, control-plane access of the operator and the uploader included,
  goes through this queue, and a stopped enforcer must not take the cluster down with it.
  `status` then shows it stopped, and the policy test fails.
- It authenticates only with `rest.InClusterConfig()`: a token and a CA at the fixed paths
  /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt} (there is no --kubeconfig).
  It therefore runs in a private mount namespace with a tmpfs over /run that holds just those
  two files: nothing is written to the host's /run, and nothing else on the host sees them.
- It stops cleanly (deleting its nftables table, where it has one) on SIGINT only.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from .settings import (
    BRIDGE_NAME,
    NETPOL_QUEUE,
    NETPOL_TABLE,
    NODE_NAME,
    Settings,
)

NAME = "kube-network-policies"
NAMESPACE = "kube-system"
SA_DIR = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is /run
TOKEN_HOURS = 24 * 365  # re-issued at every start; stored 0600 in <state>/kube-network-policies
CHAIN = "HLSFORGE-NETPOL"
stop_signal = signal.SIGINT


def rbac() -> dict[str, Any]:
    """The upstream install.yaml's ServiceAccount and ClusterRole, plus events (it records)."""
    meta = {"name": NAME, "labels": {"app.kubernetes.io/part-of": "hlsforge-cluster"}}
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {**meta, "namespace": NAMESPACE}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": meta,
                "rules": [
                    {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"],
                     "verbs": ["list", "watch"]},
                    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                     "verbs": ["list", "watch"]},
                    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
                     "verbs": ["create", "patch", "update"]},
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": NAME},
                "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
            },
        ],
    }  # fmt: skip


def credentials_dir(s: Settings) -> Path:
    return s.state / NAME


def args(s: Settings) -> list[str]:
    """unshare -> sh (tmpfs over /run, the two credential files) -> exec the controller.

    Each step execs the next, so the recorded pid is the controller's own.
    """
    # Read the files first: the tmpfs hides whatever was under /run.
    script = (
        'set -e; umask 077; t=$(cat "$1/token"); c=$(cat "$1/ca.crt"); shift;'
        " mount -t tmpfs -o mode=0755,size=1m hlsforge-netpol /run;"
        f" mkdir -p {SA_DIR}; printf '%s' \"$t\" > {SA_DIR}/token;"
        f' printf \'%s\\n\' "$c" > {SA_DIR}/ca.crt; exec "$@"'
    )
    return [
        "/usr/bin/unshare", "--mount", "--propagation", "private",
        "/bin/sh", "-c", script, NAME, str(credentials_dir(s)),
        "/usr/bin/env",
        "KUBERNETES_SERVICE_HOST=127.0.0.1",
        f"KUBERNETES_SERVICE_PORT={s.ports.apiserver}",
        str(s.binary(NAME)),
        f"--hostname-override={NODE_NAME}",
        f"--nfqueue-id={NETPOL_QUEUE}",
        f"--metrics-bind-address=127.0.0.1:{s.ports.netpol_metrics}",
        "--v=2",  # one line per verdict: `grep verdict=drop` in its log shows what it blocked
    ]  # fmt: skip


def write_credentials(s: Settings, token: str) -> None:
    d = credentials_dir(s)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    (d / "token").write_text(token.strip())
    (d / "token").chmod(0o600)
    shutil.copyfile(s.pki / "ca.crt", d / "ca.crt")


def chain_rules() -> list[list[str]]:
    """Every new connection of a pod to the controller's queue (pure). Replies and later
    packets of an accepted connection are ESTABLISHED and never queued."""
    queue = ["-j", "NFQUEUE", "--queue-num", str(NETPOL_QUEUE), "--queue-bypass"]
    return [["-A", CHAIN, "-m", "conntrack", "--ctstate", "NEW", *queue]]


# Appended, so that kube-proxy's rules and HLSFORGE-POD-EGRESS (drop pod traffic leaving the
# pod range) run first: an NFQUEUE accept ends the packet's walk through the filter table.
JUMPS = (
    ["INPUT", "-i", BRIDGE_NAME, "-j", CHAIN],
    ["FORWARD", "-i", BRIDGE_NAME, "-j", CHAIN],
    ["FORWARD", "-o", BRIDGE_NAME, "-j", CHAIN],
)


def install_queue_rules() -> None:
    """Idempotent."""
    ipt = ["iptables", "-t", "filter"]
    if all(subprocess.run([*ipt, "-C", *j], capture_output=True).returncode == 0 for j in JUMPS):
        return
    remove_queue_rules()
    subprocess.run([*ipt, "-N", CHAIN], check=True)
    for rule in chain_rules():
        subprocess.run([*ipt, *rule], check=True)
    for jump in JUMPS:
        subprocess.run([*ipt, "-A", *jump], check=True)


def remove_queue_rules() -> None:
    ipt = ["iptables", "-t", "filter"]
    for jump in JUMPS:
        while subprocess.run([*ipt, "-D", *jump], capture_output=True).returncode == 0:
            pass
    subprocess.run([*ipt, "-F", CHAIN], capture_output=True, check=False)
    subprocess.run([*ipt, "-X", CHAIN], capture_output=True, check=False)


def queue_bound(proc_file: Path = Path("/proc/net/netfilter/nfnetlink_queue")) -> bool:
    """Some process reads NFQUEUE NETPOL_QUEUE (the controller opens it after its caches
    synced, so this is its readiness)."""
    try:
        lines = proc_file.read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[:1] == [str(NETPOL_QUEUE)] for line in lines)


def nft() -> str | None:
    return shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if Path(p).exists()), None
    )


def table_present() -> bool:
    tool = nft()
    if tool is None:
        return False
    argv = [tool, "list", "table", "inet", NETPOL_TABLE]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def delete_table() -> None:
    """What a controller killed by anything but SIGINT leaves where nft_queue exists: its
    table, whose rules send the selected pods' packets to a queue nobody reads (dropped)."""
    tool = nft()
    if tool is not None and table_present():
        subprocess.run([tool, "delete", "table", "inet", NETPOL_TABLE], check=False)
