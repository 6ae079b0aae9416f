"""Direct-upload tickets per token: each token holds at most its quota of outstanding tickets
(429 with Retry-After beyond it), a completed ticket frees its place, another token cannot
complete it, and the job it makes carries its token's name. Real versitygw and API server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import KubeCluster
from tests.integration.test_uploader_harness import TOKEN, Uploader, make_clip
from tests.integration.test_uploader_s3_harness import install_crds, new_bucket, s3_uploader
from tests.s3server import S3Server

pytestmark = pytest.mark.cluster

NAMED = {"alice": "it-alice-ticket-9e2b", "bob": "it-bob-ticket-4c7d"}


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {NAMED[name]}"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=2)


@pytest.fixture(scope="module")
def up(
    kube_cluster: KubeCluster, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Uploader]:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("upltk")
    bucket = new_bucket(s3_server, "tickets")
    tokens = ",".join([TOKEN, *(f"{n}={t}" for n, t in NAMED.items())])
    settings = {"HLSFORGE_TOKENS": tokens, "HLSFORGE_QUOTAS__DIRECT_TICKETS": "2"}
    scratch = tmp_path_factory.mktemp("s3-tickets")
    with s3_uploader(kube_cluster, s3_server, namespace, bucket, scratch, **settings) as uploader:
        yield uploader


def ticket(up: Uploader, name: str, size: int) -> httpx.Response:
    return httpx.post(
        f"{up.base}/v1/uploads/direct",
        params={"size": size},
        headers={**auth(name), "Content-Type": "application/json"},
        timeout=30,
    )


def put(body: dict[str, Any], data: bytes) -> httpx.Response:
    return httpx.request(
        body["method"], body["url"], content=data, headers=body["headers"], timeout=60
    )


def test_outstanding_tickets_per_token_are_limited_and_freed_by_completion(
    up: Uploader, clip: Path
) -> None:
    size = clip.stat().st_size
    first, second = ticket(up, "alice", size), ticket(up, "alice", size)
    assert first.status_code == second.status_code == 201, first.text
    refused = ticket(up, "alice", size)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "quota_exceeded"
    assert refused.json()["quota"] == "direct_tickets"
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert ticket(up, "bob", size).status_code == 201  # another token is not held back

    mine = first.json()
    assert put(mine, clip.read_bytes()).status_code == 200
    url = f"{up.base}{mine['complete']}"
    stolen = httpx.post(url, headers=auth("bob"), timeout=60)
    assert stolen.status_code == 404, stolen.text  # bob cannot complete alice's ticket
    done = httpx.post(url, headers=auth("alice"), timeout=60)
    assert done.status_code == 201, done.text
    job = up.cluster.get_json("tj", mine["id"], "-n", up.namespace)
    assert job["metadata"]["labels"]["hlsforge.io/token"] == "alice"
    assert job["metadata"]["annotations"]["hlsforge.io/source-bytes"] == str(size)
    # A replay by another token is not an answer about alice's job.
    assert httpx.post(url, headers=auth("bob"), timeout=60).status_code == 404
    assert ticket(up, "alice", size).status_code == 201  # the completed ticket freed a place
