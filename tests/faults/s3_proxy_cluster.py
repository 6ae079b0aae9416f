"""The fault proxy (``s3_fault_proxy.py``) in a test namespace, in front of its S3 server.

Every S3 client of the platform goes through it: transcoder pods as ``http://s3-proxy:7070``
(the chart's NetworkPolicy, applied in the namespace, lets them reach the proxy and nothing
else), the operator and the uploader on the host through a port-forward to it. The test's own
assertions use the server directly (``ClusterS3.objects``), so they never see a fault.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helm.chart import one, render
from tests.integration.harness import IMAGE, PortForward, wait_for
from tests.integration.s3_cluster import PORT, ClusterS3, _restricted
from tests.s3server import S3Access

NAME = "s3-proxy"
CONTROL = 7071
SCRIPT = Path(__file__).with_name("s3_fault_proxy.py")


@dataclass
class ProxiedS3(S3Access):
    """What the platform's processes are given: the server's keys, the proxy's address."""

    server: ClusterS3
    data: PortForward | None = None
    control: PortForward | None = None
    access_key: str = field(init=False)
    secret_key: str = field(init=False)

    internal_endpoint = f"http://{NAME}:{PORT}"

    def __post_init__(self) -> None:
        self.access_key, self.secret_key = self.server.access_key, self.server.secret_key

    @property
    def endpoint(self) -> str:
        assert self.data is not None, "start() first"
        return self.data.url

    def start(self) -> ProxiedS3:
        cluster, ns = self.server.cluster, self.server.namespace
        cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": NAME, "namespace": ns},
                       "data": {"proxy.py": SCRIPT.read_text()}})  # fmt: skip
        argv = ["python3", "/proxy/proxy.py", "--listen", str(PORT), "--control", str(CONTROL)]
        container = {
            "name": "proxy",
            "image": IMAGE,
            "imagePullPolicy": "Never",
            "command": [*argv, "--upstream", f"s3:{PORT}"],
            "ports": [{"containerPort": PORT}, {"containerPort": CONTROL}],
            "readinessProbe": {"tcpSocket": {"port": CONTROL}, "periodSeconds": 1},
            "securityContext": _restricted(),
            "volumeMounts": [{"name": "script", "mountPath": "/proxy"}],
            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}},
        }
        pod = {"automountServiceAccountToken": False, "containers": [container],
               "volumes": [{"name": "script", "configMap": {"name": NAME}}]}  # fmt: skip
        meta = {"name": NAME, "namespace": ns, "labels": {"app": NAME}}
        cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod})
        cluster.apply({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": NAME, "namespace": ns},
                       "spec": {"selector": {"app": NAME}, "ports": [{"port": PORT}]}})  # fmt: skip
        cluster.apply(transcoder_policy(ns, cluster.node_ip()))
        cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", f"pod/{NAME}", "--timeout=120s")
        self.data = PortForward(cluster, ns, f"pod/{NAME}", PORT).wait()
        self.control = PortForward(cluster, ns, f"pod/{NAME}", CONTROL).wait()
        objects = self.objects()
        wait_for("S3 through the proxy", lambda: objects.client.list_buckets() and True, 30)
        return self

    def stop(self) -> None:
        for forward in (self.data, self.control):
            if forward is not None:
                forward.stop()
        self.data = self.control = None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self.control is not None, "start() first"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.control.url + path, data=data, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own URL
            return json.loads(answer.read())

    def rule(
        self, mode: str, *, method: str = "", key: str = "", delay: float = 0, after: str = ""
    ) -> None:
        """From now on (or from the first request matching ``after``, a regex on ``"<method>
        <path>"``), requests whose method matches ``method`` (a regex) and whose path
        (``/<bucket>/<key>``) contains a match of ``key`` are answered per ``mode``."""
        rule = {"mode": mode, "method": method, "key": key, "delay": delay, "after": after}
        self._call("PUT", "/rule", rule)

    def log(self) -> list[tuple[float, str, str, str]]:
        """Every request the proxy saw: (seconds, method, path, verdict)."""
        return [tuple(entry) for entry in self._call("GET", "/log")]

    def faulted(self, key: str = "", method: str = "") -> int:
        return sum(1 for _, m, p, v in self.log() if v != "pass" and key in p and method in m)

    @property
    def operator_env(self) -> dict[str, str]:
        """An operator on the host, its transcoder pods and itself both behind the proxy."""
        return (
            self.server.operator_env
            | self.env
            | {
                "HLSFORGE_S3_TRANSCODER_ENDPOINT": self.internal_endpoint,
            }
        )


def transcoder_policy(namespace: str, dns_ip: str) -> dict[str, Any]:
    """The chart's own transcoder NetworkPolicy, S3 egress to the proxy's pods only: with it,
    a transcoder pod that bypassed the proxy could not reach the server at all. ``dns_ip``: the
    local cluster's DNS is CoreDNS on the node, not a kube-dns pod."""
    values = {
        "storage.mode": "s3",
        "storage.s3.bucket": "media",
        "storage.s3.region": "us-east-1",
        "storage.s3.endpoint": ProxiedS3.internal_endpoint,
        "networkPolicy.enabled": "true",
        "networkPolicy.s3Ports": "{7070}",
        "networkPolicy.s3Egress[0].podSelector.matchLabels.app": NAME,
        "networkPolicy.dnsEgress[0].ipBlock.cidr": f"{dns_ip}/32",
    }
    policy = one(render(values, namespace=namespace), "NetworkPolicy", "transcoder")
    return policy
