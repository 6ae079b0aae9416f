"""The uploads one replica streams at once are bounded by its memory budget, all tokens
together: one more is 503 ``busy`` with Retry-After before its body is read, and the room
comes back when an upload ends (real uploader process, real API server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import KubeCluster
from tests.integration.harness import install_crds
from tests.integration.test_uploader_harness import ARTIFACTS, TOKEN, Uploader, make_clip, wait_for
from tests.integration.test_uploader_tokens import held_upload

pytestmark = pytest.mark.cluster

NAMED = {name: f"cap-{name}-token-8e2a" for name in ("alice", "bob", "carol")}
MIB = 1024**2


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture(scope="module")
def up(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploader]:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("cap")
    settings = {
        "HLSFORGE_TOKENS": ",".join([TOKEN, *(f"{n}={t}" for n, t in NAMED.items())]),
        # Two uploads of 16 MiB write buffers fill the 32 MiB budget.
        "HLSFORGE_WRITE_BUFFER_BYTES": str(16 * MIB),
        "HLSFORGE_UPLOAD_MEMORY_BYTES": str(32 * MIB),
        "HLSFORGE_QUOTAS__BUSY_RETRY_SECONDS": "7",
    }
    uploader = Uploader(
        kube_cluster,
        namespace,
        tmp_path_factory.mktemp("media"),
        ARTIFACTS / f"uploader-{namespace}.log",
        settings=settings,
    ).start()
    try:
        yield uploader
    finally:
        uploader.stop()


def post(up: Uploader, name: str, clip: Path) -> httpx.Response:
    headers = {"Authorization": f"Bearer {NAMED[name]}"}
    with httpx.Client(base_url=up.base, headers=headers, timeout=60) as c:
        return c.post("/v1/uploads", content=clip.read_bytes())


def test_uploads_beyond_the_memory_budget_are_503_busy_until_one_ends(
    up: Uploader, clip: Path
) -> None:
    with held_upload(up, NAMED["alice"], clip), held_upload(up, NAMED["bob"], clip):

        def refused() -> httpx.Response | None:
            r = post(up, "carol", clip)
            return r if r.status_code == 503 else None

        r = wait_for("the third upload refused", refused, timeout=15)
        assert r.json()["error"] == "busy", r.text
        assert r.headers["retry-after"] == "7"
    # The held bodies were cut: their room comes back, and an upload goes through.

    def accepted() -> httpx.Response | None:
        r = post(up, "carol", clip)
        return r if r.status_code == 201 else None

    assert wait_for("room for carol", accepted, timeout=20).json()["id"]
