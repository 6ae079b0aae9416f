"""The chart's transcoder NetworkPolicy, enforced on the local cluster (kube-network-policies,
hack/hlscluster/netpol.py) and probed from inside pods.

A pod labelled exactly as the operator labels transcoder pods runs next to an identical pod
without those labels. Both probe the same targets at the same moment, with bounded
timeouts: the `kubernetes` Service and its endpoint (the API server forward on the node),
the kubelet, cluster DNS, an uploader-like pod and its Service in the namespace, and in S3
mode the S3 peer. Every denial has two controls that can make the test fail: the same probe
from the same pod before the policy existed, and from the unlabelled pod afterwards, connect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hlsforge_operator import names
from tests.helm.chart import Doc, one, render
from tests.integration.conftest import KubeCluster
from tests.integration.harness import wait_for
from tests.integration.s3_cluster import s3_image

pytestmark = pytest.mark.cluster

BASE_IMAGE = "hlsforge.local/base:bookworm"  # imported into the node by hack/cluster.py up
SERVER_PORT = 7070
UPLOADER_SERVICE_PORT = 8000
PROBE_SECONDS = 3
ENFORCE_TIMEOUT = 30.0
CLUSTER_DNS_NAME = "kubernetes.default.svc.cluster.local"

# Runs in the base image (bash, coreutils, getent): every target in parallel, one line each,
# "<name> open|timeout|refused". `timeout` exits 124 when the connection attempt hung, which
# is what a dropped SYN (a policy verdict) looks like; a refused or failed one exits 1.
PROBE_SCRIPT = r"""
probe() {
  IFS=: read -r name kind host port <<<"$1"
  if [ "$kind" = dns ]; then
    timeout "$T" getent hosts "$host" >/dev/null 2>&1; rc=$?
  else
    timeout "$T" bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; rc=$?
  fi
  case $rc in 0) r=open ;; 124) r=timeout ;; *) r=refused ;; esac
  echo "$name $r"
}
for target in "$@"; do probe "$target" & done
wait
"""


def _restricted() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "tcp" or "dns"
    host: str
    port: int = 0

    def arg(self) -> str:
        return f"{self.name}:{self.kind}:{self.host}:{self.port}"


class Probes:
    """Client and server pods of one test namespace; deletes every pod it started."""

    def __init__(self, cluster: KubeCluster, namespace: str) -> None:
        self.cluster = cluster
        self.ns = namespace
        self.objects: list[str] = []

    def _create(self, manifest: dict[str, Any]) -> None:
        self.cluster.apply(manifest, namespace=self.ns)
        self.objects.append(f"{manifest['kind'].lower()}/{manifest['metadata']['name']}")

    def client(self, name: str, labels: dict[str, str]) -> None:
        """A pod like a transcoder pod: no token, restricted, nothing listening."""
        self._create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "probe",
                            "image": BASE_IMAGE,
                            "imagePullPolicy": "Never",
                            "command": ["sleep", "infinity"],
                            "securityContext": _restricted(),
                        }
                    ],
                },
            }
        )

    def server(self, name: str, service_port: int) -> None:
        """An S3 server pod (versitygw, already built for the S3 tests) and its Service."""
        creds = [
            {"name": "ROOT_ACCESS_KEY_ID", "value": "probe"},
            {"name": "ROOT_SECRET_ACCESS_KEY", "value": "probe-probe-probe"},
        ]
        self._create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "server",
                            "image": s3_image(),
                            "imagePullPolicy": "Never",
                            "args": ["--port", f":{SERVER_PORT}", "--quiet", "posix", "/data"],
                            "env": creds,
                            "readinessProbe": {
                                "tcpSocket": {"port": SERVER_PORT},
                                "periodSeconds": 1,
                            },
                            "securityContext": _restricted(),
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ],
                    "securityContext": {"fsGroup": 65534},
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            }
        )
        self._create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {
                    "selector": {"app": name},
                    "ports": [{"port": service_port, "targetPort": SERVER_PORT}],
                },
            }
        )

    def ready(self) -> None:
        self.cluster.kubectl(
            "wait", "-n", self.ns, "--for=condition=Ready", "pod", "--all", "--timeout=120s",
            timeout=150,
        )  # fmt: skip

    def pod_ip(self, name: str) -> str:
        ip: str = self.cluster.get_json("pod", name, "-n", self.ns)["status"]["podIP"]
        return ip

    def cluster_ip(self, name: str) -> str:
        ip: str = self.cluster.get_json("svc", name, "-n", self.ns)["spec"]["clusterIP"]
        return ip

    def probe(self, pod: str, targets: list[Target]) -> dict[str, str]:
        argv = ["exec", "-n", self.ns, pod, "--", "env", f"T={PROBE_SECONDS}"]
        argv += ["bash", "-c", PROBE_SCRIPT, "probe", *(t.arg() for t in targets)]
        out = self.cluster.kubectl(*argv, timeout=PROBE_SECONDS * 4 + 30).stdout
        got = dict(line.split(" ", 1) for line in out.splitlines() if line.strip())
        assert set(got) == {t.name for t in targets}, out
        return got

    def delete_all(self) -> None:
        if self.objects:
            self.cluster.kubectl(
                "delete", "-n", self.ns, *reversed(self.objects), "--ignore-not-found",
                "--grace-period=0", "--force", "--wait=true", "--timeout=60s",
                check=False, timeout=90,
            )  # fmt: skip


@pytest.fixture
def probes(kube_cluster: KubeCluster, namespace: str) -> Iterator[Probes]:
    p = Probes(kube_cluster, namespace)
    try:
        yield p
    finally:
        p.delete_all()


def node_targets(cluster: KubeCluster) -> list[Target]:
    """What a transcoder must never reach, discovered from the cluster itself."""
    svc = cluster.get_json("svc", "kubernetes", "-n", "default")
    eps = cluster.get_json("endpoints", "kubernetes", "-n", "default")["subsets"][0]
    node = cluster.get_json("nodes")["items"][0]["status"]
    node_ip = cluster.node_ip()
    kubelet_port = node["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    return [
        Target(
            "apiserver-service", "tcp", svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
        ),
        Target("apiserver-endpoint", "tcp", eps["addresses"][0]["ip"], eps["ports"][0]["port"]),
        Target("kubelet", "tcp", node_ip, kubelet_port),
    ]


def transcoder_policy(namespace: str, values: Path | None = None, **sets: str) -> Doc:
    docs = render(sets, files=[values] if values else None, namespace=namespace)
    policy = one(docs, "NetworkPolicy", "transcoder")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    # The chart selects what the operator really puts on transcoder pods.
    assert selector.items() <= names.labels("probe").items(), selector
    return policy


def enforce(probes: Probes, policy: Doc, canary: Target) -> float:
    """Apply the policy; seconds until the transcoder pod's probe of canary stops connecting."""
    began = time.monotonic()
    probes.cluster.apply(policy, namespace=probes.ns)
    probes.objects.append(f"networkpolicy/{policy['metadata']['name']}")
    wait_for(
        "the policy to be enforced",
        lambda: probes.probe("transcoder", [canary])[canary.name] != "open" or None,
        ENFORCE_TIMEOUT,
        every=0.5,
    )
    took = time.monotonic() - began
    print(f"policy {policy['metadata']['name']} enforced after {took:.1f}s")
    return took


def start_clients(probes: Probes) -> None:
    probes.client("transcoder", names.labels("probe"))
    probes.client("control", {"app": "probe-control"})  # identical but for the labels


def assert_before_all_open(probes: Probes, targets: list[Target]) -> None:
    before = probes.probe("transcoder", targets)
    assert before == {t.name: "open" for t in targets}, f"unreachable before the policy: {before}"


def test_volume_mode_transcoder_reaches_nothing(
    kube_cluster: KubeCluster, probes: Probes, namespace: str
) -> None:
    probes.server("uploader", UPLOADER_SERVICE_PORT)
    start_clients(probes)
    probes.ready()
    targets = [
        *node_targets(kube_cluster),
        Target("cluster-dns", "dns", CLUSTER_DNS_NAME),
        Target("uploader-pod", "tcp", probes.pod_ip("uploader"), SERVER_PORT),
        Target("uploader-service", "tcp", probes.cluster_ip("uploader"), UPLOADER_SERVICE_PORT),
    ]
    assert_before_all_open(probes, targets)

    policy = transcoder_policy(namespace)  # the chart's defaults: volume storage
    assert policy["spec"]["egress"] == [] and policy["spec"]["ingress"] == []
    enforce(probes, policy, targets[0])

    denied = probes.probe("transcoder", targets)
    control = probes.probe("control", targets)
    assert control == {t.name: "open" for t in targets}, f"control pod: {control}"
    assert all(r != "open" for r in denied.values()), f"transcoder pod: {denied}"


def test_s3_mode_transcoder_reaches_only_its_s3_peer_and_dns(
    kube_cluster: KubeCluster, probes: Probes, namespace: str, tmp_path: Path
) -> None:
    probes.server("s3", SERVER_PORT)
    probes.server("uploader", UPLOADER_SERVICE_PORT)
    start_clients(probes)
    probes.ready()
    s3_ip = probes.pod_ip("s3")
    allowed = [
        Target("s3-pod", "tcp", s3_ip, SERVER_PORT),
        Target("s3-service", "tcp", probes.cluster_ip("s3"), SERVER_PORT),
        Target("s3-dns", "dns", f"s3.{namespace}.svc.cluster.local"),
    ]
    forbidden = [
        *node_targets(kube_cluster),
        # Same port as the S3 server: only the peer, not the port, is what is allowed.
        Target("uploader-pod", "tcp", probes.pod_ip("uploader"), SERVER_PORT),
        Target("uploader-service", "tcp", probes.cluster_ip("uploader"), UPLOADER_SERVICE_PORT),
    ]
    targets = allowed + forbidden
    assert_before_all_open(probes, targets)

    values = tmp_path / "values.json"  # JSON is YAML; a list of peers needs a file, not --set
    peers = [{"ipBlock": {"cidr": f"{s3_ip}/32"}}]
    dns = [{"ipBlock": {"cidr": f"{kube_cluster.node_ip()}/32"}}]  # CoreDNS runs on the node
    values.write_text(json.dumps({"networkPolicy": {"s3Egress": peers, "dnsEgress": dns}}))
    policy = transcoder_policy(
        namespace,
        values,
        **{
            "storage.mode": "s3",
            "storage.s3.bucket": "media",
            "storage.s3.region": "us-east-1",
            "storage.s3.endpoint": f"http://s3:{SERVER_PORT}",
            "storage.s3.addressing": "path",
            "storage.s3.credentialsSecret": "s3-credentials",
            "networkPolicy.s3Ports": f"{{{SERVER_PORT}}}",
        },
    )
    assert policy["spec"]["egress"][0]["to"] == peers
    assert policy["spec"]["egress"][1]["to"] == dns
    enforce(probes, policy, forbidden[0])

    seen = probes.probe("transcoder", targets)
    control = probes.probe("control", targets)
    assert control == {t.name: "open" for t in targets}, f"control pod: {control}"
    assert {t.name: seen[t.name] for t in allowed} == {t.name: "open" for t in allowed}, seen
    assert all(seen[t.name] != "open" for t in forbidden), f"transcoder pod: {seen}"
