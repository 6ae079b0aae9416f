"""What the S3 uploader tests share: an uploader process in S3 mode against the session's
versitygw server, a bucket per module, and the bucket's state as the tests inspect it.

Not a test module (it holds no tests); named ``test_uploader_s3_*`` to sit with the tests
that use it. Every uploader it starts is stopped by the fixture or test that started it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.conftest import REPO, KubeCluster
from tests.integration.test_uploader_harness import ARTIFACTS, TOKEN, Uploader
from tests.s3server import S3Server

PART = 5 * 1024 * 1024
"""The uploader's multipart part size in these tests (S3's minimum)."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def install_crds(cluster: KubeCluster) -> None:
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "deploy" / "crds")
    )
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def new_bucket(server: S3Server, prefix: str) -> str:
    name = f"{prefix}-{secrets.token_hex(4)}"
    server.bucket(name)
    return name


def s3_settings(server: S3Server, bucket: str, **extra: str) -> dict[str, str]:
    """The environment of an uploader in S3 mode (credentials via the default chain)."""
    return {
        **server.env,
        "HLSFORGE_STORAGE": "s3",
        "HLSFORGE_S3_BUCKET": bucket,
        "HLSFORGE_S3_PART_BYTES": str(PART),
        **extra,
    }


@contextlib.contextmanager
def s3_uploader(
    cluster: KubeCluster,
    server: S3Server,
    namespace: str,
    bucket: str,
    scratch: Path,
    name: str = "",
    **extra: str,
) -> Iterator[Uploader]:
    """An uploader in S3 mode, stopped on exit."""
    log = ARTIFACTS / f"uploader-{namespace}{'-' + name if name else ''}.log"
    settings = s3_settings(server, bucket, **extra)
    uploader = Uploader(cluster, namespace, scratch, log, settings=settings)
    try:
        yield uploader.start()
    finally:
        uploader.stop()


def object_keys(server: S3Server, bucket: str) -> list[str]:
    """Every key in the bucket."""
    answer = server.objects().client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in answer.get("Contents", []))


def set_status(cluster: KubeCluster, namespace: str, name: str, status: dict[str, Any]) -> None:
    cluster.kubectl(
        *("patch", "tj", name, "-n", namespace, "--subresource=status", "--type=merge"),
        "-p",
        json.dumps({"status": status}),
    )
