"""Direct uploads: the client PUTs its file to S3 with a presigned URL, the uploader checks it
on ``complete`` and creates the TranscodeJob. Real versitygw, API server and ffprobe.

Two uploader processes share the bucket and the namespace, as two replicas (or one replica
before and after a restart) would: an upload started on one is completed on the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hlsforge_storage.locations import S3Uri
from tests.integration.conftest import KubeCluster
from tests.integration.test_uploader_harness import Uploader, make_clip, pad_mp4
from tests.integration.test_uploader_s3_harness import (
    AUTH,
    install_crds,
    new_bucket,
    object_keys,
    s3_uploader,
)
from tests.s3server import S3Server

pytestmark = pytest.mark.cluster

CAP = 8 * 1024 * 1024


@dataclass
class Pair:
    cluster: KubeCluster
    server: S3Server
    namespace: str
    bucket: str
    first: Uploader
    second: Uploader

    def objects(self) -> list[str]:
        return object_keys(self.server, self.bucket)

    def staged(self, upload_id: str) -> list[str]:
        return [k for k in self.objects() if k.startswith(f"uploads/direct/{upload_id}/")]


@pytest.fixture(scope="module")
def pair(
    kube_cluster: KubeCluster, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("upls3x")
    bucket = new_bucket(s3_server, "direct")
    scratch = tmp_path_factory.mktemp("s3-direct")
    cap = {"HLSFORGE_MAX_UPLOAD_BYTES": str(CAP)}
    with (
        s3_uploader(kube_cluster, s3_server, namespace, bucket, scratch, "a", **cap) as first,
        s3_uploader(kube_cluster, s3_server, namespace, bucket, scratch, "b", **cap) as second,
    ):
        yield Pair(kube_cluster, s3_server, namespace, bucket, first, second)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=2)


def start(
    uploader: Uploader, options: dict[str, Any] | None = None, size: int = 1000
) -> dict[str, Any]:
    """A ticket for a file of exactly ``size`` bytes."""
    r = httpx.post(
        f"{uploader.base}/v1/uploads/direct",
        params={"size": size},
        content=json.dumps(options) if options is not None else b"",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, Any] = r.json()
    return body


def put(ticket: dict[str, Any], data: bytes) -> httpx.Response:
    """The client's PUT: straight to the object store, no uploader token."""
    return httpx.request(ticket["method"], ticket["url"], content=data,
                         headers=ticket["headers"], timeout=60)  # fmt: skip


def complete(uploader: Uploader, ticket: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{uploader.base}{ticket['complete']}", headers=AUTH, timeout=60)


def test_a_direct_upload_becomes_a_job_on_another_replica(pair: Pair, clip: Path) -> None:
    options = {"priority": 7, "sourcePolicy": "Retain"}
    ticket = start(pair.first, options, size=clip.stat().st_size)
    upload_id = ticket["id"]
    assert ticket["method"] == "PUT" and ticket["headers"] == {"If-None-Match": "*"}
    assert ticket["complete"] == f"/v1/uploads/{upload_id}/complete"
    assert ticket["url"].startswith(f"{pair.server.endpoint}/{pair.bucket}/uploads/direct/")
    assert "expiresAt" in ticket
    assert put(ticket, clip.read_bytes()).status_code == 200
    # Written once: the signed If-None-Match refuses a second PUT (nothing can be swapped in).
    assert put(ticket, bytes(clip.stat().st_size)).status_code == 412

    done = complete(pair.second, ticket)  # the options were kept in the bucket, not in memory
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["id"] == upload_id and body["replayed"] is False
    spec = pair.cluster.get_json("tj", upload_id, "-n", pair.namespace)["spec"]
    assert spec["source"] == f"s3://{pair.bucket}/uploads/{upload_id}.mp4"
    assert spec["output"] == f"s3://{pair.bucket}/hls/{upload_id}"
    assert (spec["priority"], spec["sourcePolicy"]) == (7, "Retain")
    source = pair.server.objects().read(S3Uri(pair.bucket, f"uploads/{upload_id}.mp4"))
    assert source == clip.read_bytes()
    assert pair.staged(upload_id) == []
    assert pair.server.open_multipart_uploads(pair.bucket) == []

    again = complete(pair.first, ticket)  # idempotent, on any replica
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert again.json()["id"] == upload_id


def test_completing_before_the_put_or_an_unknown_id_is_a_clear_error(pair: Pair) -> None:
    ticket = start(pair.first)
    early = complete(pair.first, ticket)
    assert early.status_code == 409 and early.json()["error"] == "upload_incomplete"
    assert "PUT the file" in early.json()["detail"]
    assert pair.staged(ticket["id"]) == [f"uploads/direct/{ticket['id']}/request.json"]
    for unknown in ("up-aaaaaaaaaaaaaaaaaaaa", "NOT_AN_ID"):
        r = httpx.post(f"{pair.first.base}/v1/uploads/{unknown}/complete", headers=AUTH)
        assert r.status_code == 404 and r.json()["error"] == "not_found", r.text


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n", 422, "invalid_media"),
        (b"\x00\x00\x00\x20ftypisom" + b"\x00\x01" * 50_000, 422, "invalid_media"),
        (None, 413, "upload_too_large"),
    ],
)
def test_a_refused_file_is_deleted_with_its_record(
    pair: Pair, clip: Path, tmp_path: Path, content: bytes | None, status: int, error: str
) -> None:
    before = [k for k in pair.objects() if not k.startswith("uploads/direct/")]
    data = (
        content
        if content is not None
        else pad_mp4(clip, tmp_path / "big.mp4", CAP + 1).read_bytes()
    )
    if content is None:  # too large: refused when the ticket is asked for, nothing stored
        r = httpx.post(f"{pair.first.base}/v1/uploads/direct", headers=AUTH,
                       params={"size": len(data)}, timeout=30)  # fmt: skip
        assert r.status_code == status and r.json()["error"] == error, r.text
        assert [k for k in pair.objects() if not k.startswith("uploads/direct/")] == before
        return
    ticket = start(pair.first, size=len(data))
    assert put(ticket, data).status_code == 200
    r = complete(pair.second, ticket)
    assert r.status_code == status and r.json()["error"] == error, r.text
    assert pair.staged(ticket["id"]) == []
    assert [k for k in pair.objects() if not k.startswith("uploads/direct/")] == before
    # Nothing is pending any more: the id is unknown now.
    assert complete(pair.first, ticket).status_code == 404


def test_invalid_options_are_refused_before_anything_is_stored(pair: Pair) -> None:
    before = pair.objects()
    r = httpx.post(f"{pair.first.base}/v1/uploads/direct", headers=AUTH, params={"size": 1000},
                   content=json.dumps({"video": {"codec": "h265"}}))  # fmt: skip
    assert r.status_code == 422 and r.json()["error"] == "invalid_options"
    r = httpx.post(f"{pair.first.base}/v1/uploads/direct", content=b"{}", params={"size": 1})
    assert r.status_code == 401
    assert pair.objects() == before


def staged_uri(pair: Pair, ticket: dict[str, Any]) -> S3Uri:
    return S3Uri(pair.bucket, f"uploads/direct/{ticket['id']}/source")


def test_a_ticket_takes_exactly_its_declared_size(pair: Pair, clip: Path) -> None:
    """The presigned PUT signs ``Content-Length``: versitygw refuses any other size."""
    data = clip.read_bytes()
    ticket = start(pair.first, size=len(data))
    for wrong in (data + b"\0" * 4096, data[:-1]):
        r = put(ticket, wrong)
        assert r.status_code == 403, r.text  # SignatureDoesNotMatch
    assert pair.staged(ticket["id"]) == [f"uploads/direct/{ticket['id']}/request.json"]
    assert put(ticket, data).status_code == 200
    assert complete(pair.first, ticket).status_code == 201


def test_completion_refuses_a_file_of_another_size(pair: Pair, clip: Path) -> None:
    """Whatever the store let through (one that does not check the signed length), completion
    compares the stored size with the declared one: 422, the file deleted, no job."""
    data = clip.read_bytes()
    before = [k for k in pair.objects() if not k.startswith("uploads/direct/")]
    for stored in (data + b"\0" * 100, data[: len(data) // 2]):
        ticket = start(pair.first, size=len(data))
        pair.server.objects().put(staged_uri(pair, ticket), stored)
        r = complete(pair.second, ticket)
        assert r.status_code == 422 and r.json()["error"] == "size_mismatch", r.text
        assert pair.staged(ticket["id"]) == []
        jobs = pair.cluster.get_json("tj", "-n", pair.namespace)["items"]
        assert ticket["id"] not in [j["metadata"]["name"] for j in jobs]
    assert [k for k in pair.objects() if not k.startswith("uploads/direct/")] == before


def test_a_ticket_needs_a_size(pair: Pair) -> None:
    for params in ({}, {"size": "0"}, {"size": "-1"}, {"size": "many"}):
        r = httpx.post(f"{pair.first.base}/v1/uploads/direct", headers=AUTH, params=params,
                       timeout=30)  # fmt: skip
        assert r.status_code == 400 and r.json()["error"] == "bad_request", r.text
        assert "size" in r.json()["detail"]
