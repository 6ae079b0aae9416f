"""What the volume-mode uploader tests share: an uploader process on a media folder of its own,
the jobs and files it makes, and the status the operator would write.

Not a test module (it holds no tests); named ``test_uploader_volume_*`` to sit with the tests
that use it. No transcoder pods are needed: jobs are created and read through the real API
server, and where a finished output is needed the test writes it and sets the job's status
through the status subresource, as the operator would. Every uploader started here is stopped
by the context manager that started it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import REPO, KubeCluster
from tests.integration.test_uploader_harness import ARTIFACTS, TOKEN, Uploader

CAP = 96 * 1024 * 1024
"""``HLSFORGE_MAX_UPLOAD_BYTES`` of these uploaders."""
IDLE = 2.0
"""The body window of ``impatient_uploader`` (the tests pause bodies on purpose)."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def volume_uploader(
    cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Uploader]:
    """The CRD, a namespace and an uploader on a fresh media folder; stopped on exit."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "deploy" / "crds")
    )
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    namespace = cluster.create_namespace("upl")
    media = tmp_path_factory.mktemp("media")
    uploader = Uploader(
        cluster,
        namespace,
        media,
        ARTIFACTS / f"uploader-{namespace}.log",
        settings={"HLSFORGE_MAX_UPLOAD_BYTES": str(CAP)},
    ).start()
    try:
        yield uploader
    finally:
        uploader.stop()


@contextlib.contextmanager
def sibling_uploader(up: Uploader, name: str, **settings: str) -> Iterator[Uploader]:
    """Another uploader on ``up``'s namespace and media folder (another replica, or other
    settings); stopped on exit."""
    sibling = Uploader(
        up.cluster,
        up.namespace,
        up.media_root,
        ARTIFACTS / f"uploader-{up.namespace}-{name}.log",
        settings=settings,
    ).start()
    try:
        yield sibling
    finally:
        sibling.stop()


def api(up: Uploader) -> httpx.Client:
    """An HTTP client of ``up`` with the token (close it, or use it as a context manager)."""
    return httpx.Client(base_url=up.base, headers=AUTH, timeout=60)


def uploads(up: Uploader) -> list[str]:
    folder = up.media_root / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def tj(up: Uploader, name: str) -> dict[str, Any]:
    return up.cluster.get_json("tj", name, "-n", up.namespace)


def set_status(up: Uploader, name: str, status: dict[str, Any]) -> None:
    up.cluster.kubectl(
        *("patch", "tj", name, "-n", up.namespace, "--subresource=status", "--type=merge"),
        "-p",
        json.dumps({"status": status}),
    )
