"""A real S3 server (versitygw) inside a test namespace of the cluster, as users run MinIO on
kind: transcoder pods reach it as ``http://s3:7070``; the host (the test, an operator or an
uploader process) reaches it through a port-forward on 127.0.0.1.

The server pod meets the ``restricted`` Pod Security Standard like every other pod there; its
root credentials and the transcoder's keys are one Secret (``s3-credentials``), read by
reference only.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass, field

from tests.integration.conftest import KubeCluster
from tests.integration.harness import REPO, PortForward, wait_for
from tests.s3server import S3Access

SECRET = "s3-credentials"  # noqa: S105 - a Secret's name
PORT = 7070


def s3_image() -> str:
    argv = [sys.executable, str(REPO / "hack" / "cluster.py"), "s3-image"]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=900)
    return done.stdout.strip().splitlines()[-1]


def _restricted() -> dict[str, object]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


@dataclass
class ClusterS3(S3Access):
    cluster: KubeCluster
    namespace: str
    access_key: str = field(default_factory=lambda: "hlsforge" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    forward: PortForward | None = None

    internal_endpoint = f"http://s3:{PORT}"

    def start(self, bucket: str) -> ClusterS3:
        ns = self.namespace
        self.cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": SECRET, "namespace": ns},
                "stringData": {
                    "AWS_ACCESS_KEY_ID": self.access_key,
                    "AWS_SECRET_ACCESS_KEY": self.secret_key,
                },
            }
        )
        env = [
            {"name": "ROOT_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef":
                {"name": SECRET, "key": "AWS_ACCESS_KEY_ID"}}},
            {"name": "ROOT_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef":
                {"name": SECRET, "key": "AWS_SECRET_ACCESS_KEY"}}},
        ]  # fmt: skip
        self.cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "s3", "namespace": ns, "labels": {"app": "s3"}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "versitygw",
                            "image": s3_image(),
                            "imagePullPolicy": "Never",
                            "args": ["--port", f":{PORT}", "--quiet", "posix", "/data"],
                            "env": env,
                            "ports": [{"containerPort": PORT}],
                            "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 1},
                            "securityContext": _restricted(),
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ],
                    "securityContext": {"fsGroup": 10001},
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            }
        )
        self.cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "s3", "namespace": ns},
                "spec": {"selector": {"app": "s3"}, "ports": [{"port": PORT}]},
            }
        )
        self.cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/s3", "--timeout=120s")
        self.forward = PortForward(self.cluster, ns, "pod/s3", PORT).wait()
        objects = self.objects()
        wait_for("the S3 server", lambda: objects.client.list_buckets() and True, 30)
        objects.client.create_bucket(Bucket=bucket)
        return self

    def stop(self) -> None:
        if self.forward is not None:
            self.forward.stop()
            self.forward = None

    @property
    def endpoint(self) -> str:
        assert self.forward is not None, "start() first"
        return self.forward.url

    @property
    def operator_env(self) -> dict[str, str]:
        """An operator on the host whose transcoder pods reach the server in-cluster."""
        return self.env | {
            "HLSFORGE_S3_TRANSCODER_ENDPOINT": self.internal_endpoint,
            "HLSFORGE_S3_CREDENTIALS_SECRET": SECRET,
        }
