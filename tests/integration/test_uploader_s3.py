"""Streamed uploads to S3: the uploader as a process, the real versitygw server, the real API
server, the real ffprobe (through a presigned URL).

What must hold: parts leave while the body is still arriving and memory stays flat; the job
names ``s3://`` locations; every failure (413, 422 at sniff or ffprobe, disconnect, stall,
job creation) leaves no multipart upload and no object; an existing object is never replaced.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hlsforge_storage.locations import S3Uri
from hlsforge_uploader.uploads import idempotency as idem
from tests.integration.conftest import KubeCluster
from tests.integration.test_uploader_harness import (
    TOKEN,
    Uploader,
    make_clip,
    pad_mp4,
    reset_peak_rss,
    rss_kib,
    stream_until_answer,
    wait_for,
)
from tests.integration.test_uploader_s3_harness import (
    AUTH,
    PART,
    install_crds,
    new_bucket,
    object_keys,
    s3_uploader,
)
from tests.s3server import S3Server

pytestmark = pytest.mark.cluster

CAP = 40 * 1024 * 1024
IDLE = 2.0


class Env:
    """The module's bucket, namespace and uploader."""

    def __init__(self, cluster: KubeCluster, server: S3Server, bucket: str, namespace: str,
                 uploader: Uploader, scratch: Path) -> None:  # fmt: skip
        self.cluster = cluster
        self.server = server
        self.bucket = bucket
        self.namespace = namespace
        self.uploader = uploader
        self.scratch = scratch

    def open_uploads(self) -> list[str]:
        return self.server.open_multipart_uploads(self.bucket)

    def objects(self) -> list[str]:
        return object_keys(self.server, self.bucket)

    def tj(self, name: str) -> dict[str, Any]:
        return self.cluster.get_json("tj", name, "-n", self.namespace)


@pytest.fixture(scope="module")
def env(
    kube_cluster: KubeCluster, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("upls3")
    bucket = new_bucket(s3_server, "upl")
    scratch = tmp_path_factory.mktemp("s3-uploader")
    with s3_uploader(kube_cluster, s3_server, namespace, bucket, scratch,
                     HLSFORGE_MAX_UPLOAD_BYTES=str(CAP)) as uploader:  # fmt: skip
        yield Env(kube_cluster, s3_server, bucket, namespace, uploader, scratch)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=2)


@pytest.fixture
def http(env: Env) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=env.uploader.base, headers=AUTH, timeout=60) as c:
        yield c


def test_an_upload_becomes_an_s3_object_and_a_job_reading_it(
    env: Env, http: httpx.Client, clip: Path
) -> None:
    r = http.post("/v1/uploads", content=clip.read_bytes(), params={"options": '{"priority": 3}'})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    spec = env.tj(job_id)["spec"]
    assert spec["source"] == f"s3://{env.bucket}/uploads/{job_id}.mp4"
    assert spec["output"] == f"s3://{env.bucket}/hls/{job_id}"
    assert spec["priority"] == 3
    stored = env.server.objects().read(S3Uri(env.bucket, f"uploads/{job_id}.mp4"))
    assert stored == clip.read_bytes()
    assert env.open_uploads() == []
    assert http.get("/readyz").json()["checks"]["storage"] is True


def test_parts_leave_while_the_body_arrives_and_memory_stays_flat(
    env: Env, clip: Path, tmp_path: Path
) -> None:
    big = pad_mp4(clip, tmp_path / "big.mp4", CAP - 1024)
    data = big.read_bytes()
    position = {"n": 0}
    seen: dict[str, Any] = {}

    def chunk() -> bytes | None:
        if position["n"] >= len(data):
            return None
        piece = data[position["n"] : position["n"] + 256 * 1024]
        position["n"] += len(piece)
        return piece

    def parts_in_flight() -> list[Any] | None:
        client = env.server.objects().client
        for upload in client.list_multipart_uploads(Bucket=env.bucket).get("Uploads", []):
            listed = client.list_parts(
                Bucket=env.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            if len(listed.get("Parts", [])) >= 2:
                seen["key"] = upload["Key"]
                return list(listed["Parts"])
        return None

    def pause(sent: int) -> None:
        # Halfway through the body, the client stops sending and looks at the bucket.
        if "parts" not in seen and sent >= 3 * PART:
            seen["parts"] = wait_for("two parts in S3", parts_in_flight, timeout=15)
            seen["sent"] = sent

    reset_peak_rss(env.uploader.pid)
    rss_before = rss_kib(env.uploader.pid)["VmRSS"]
    result = stream_until_answer(env.uploader.port, "/v1/uploads", AUTH, chunk, pause)
    assert result.status == 201, result
    assert seen["sent"] < len(data) // 2 + PART  # the parts existed long before the end
    # A part is PART plus at most the last write batch (about 1 MiB) that crossed it.
    assert all(PART <= p["Size"] < PART + (2 << 20) for p in seen["parts"])
    assert seen["key"] == f"uploads/{result.body['id']}.mp4"
    growth_mib = (rss_kib(env.uploader.pid)["VmHWM"] - rss_before) / 1024
    assert growth_mib < 32, f"peak RSS grew {growth_mib:.0f} MiB for a {CAP >> 20} MiB upload"
    assert env.server.objects().size(S3Uri(env.bucket, seen["key"])) == len(data)
    assert env.open_uploads() == []


def test_413_mid_stream_aborts_the_multipart_upload(env: Env) -> None:
    before = env.objects()
    head = b"\x00\x00\x00\x20ftypisom" + b"\x00" * (1024 * 1024 - 12)
    block = b"\x00" * (1024 * 1024)
    sent = {"n": 0}
    during: dict[str, list[str]] = {}

    def chunk() -> bytes | None:
        sent["n"] += 1
        return head if sent["n"] == 1 else block

    def pause(total: int) -> None:
        if total == 3 * PART and "open" not in during:
            during["open"] = wait_for("a multipart upload", env.open_uploads, timeout=10)

    result = stream_until_answer(env.uploader.port, "/v1/uploads", AUTH, chunk, pause)
    assert result.status == 413 and result.body["error"] == "upload_too_large"
    assert result.sent < CAP + 16 * 1024 * 1024
    assert during["open"], "the upload was streaming to S3 before the cap was crossed"
    assert env.open_uploads() == []
    assert env.objects() == before


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n" * 100, "Playlist"),
        # Passes the sniff, so it is stored (three parts), completed, probed, and deleted.
        (b"\x00\x00\x00\x20ftypisom" + b"\x00\x01" * (7 * 1024 * 1024), "ProbeFailed"),
    ],
)
def test_what_is_not_a_video_is_422_and_nothing_stays(
    env: Env, http: httpx.Client, content: bytes, reason: str
) -> None:
    before = env.objects()
    r = http.post("/v1/uploads", content=content)
    assert r.status_code == 422, r.text
    assert (r.json()["error"], r.json()["reason"]) == ("invalid_media", reason)
    assert env.open_uploads() == []
    assert env.objects() == before


def test_a_client_that_disconnects_leaves_nothing(env: Env) -> None:
    before = env.objects()
    sock = socket.create_connection(("127.0.0.1", env.uploader.port), timeout=30)
    try:
        head = f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        sock.sendall((head + "Content-Length: 33554432\r\n\r\n").encode())
        sock.sendall(b"\x00\x00\x00\x20ftypisom" + b"\x00" * (3 * PART))
        wait_for("a multipart upload", env.open_uploads, timeout=10)
    finally:
        sock.close()
    wait_for("the multipart upload to be aborted", lambda: env.open_uploads() == [], timeout=15)
    assert env.objects() == before


def test_a_stalled_body_is_408_and_a_failed_job_creation_deletes_the_object(
    env: Env, clip: Path
) -> None:
    """One uploader for both: a short idle timeout, and a namespace that does not exist
    (its watch lists nothing; creating a job there fails)."""
    with s3_uploader(env.cluster, env.server, f"absent-{env.namespace}", env.bucket,
                     env.scratch, name="odd",
                     HLSFORGE_BODY_IDLE_TIMEOUT_SECONDS=str(IDLE)) as odd:  # fmt: skip
        before = env.objects()
        data = b"\x00\x00\x00\x20ftypisom" + b"\x00" * (2 * PART)
        sent = {"n": 0}

        def chunk() -> bytes | None:
            sent["n"] += 1
            return data if sent["n"] == 1 else None

        def stall(_: int) -> None:
            wait_for("a multipart upload", env.open_uploads, timeout=10)
            time.sleep(IDLE + 2)

        result = stream_until_answer(odd.port, "/v1/uploads", AUTH, chunk, stall)
        assert result.status == 408 and result.body["error"] == "upload_stalled"
        assert env.open_uploads() == []
        assert env.objects() == before

        r = httpx.post(f"{odd.base}/v1/uploads", content=clip.read_bytes(), headers=AUTH)
        assert r.status_code == 502 and r.json()["error"] == "kubernetes_error", r.text
        assert env.open_uploads() == []
        assert env.objects() == before


def test_a_keyed_retry_replays_and_an_existing_object_is_never_replaced(
    env: Env, http: httpx.Client, clip: Path
) -> None:
    key = {"Idempotency-Key": f"s3-{time.time_ns()}"}
    first = http.post("/v1/uploads", content=clip.read_bytes(), headers=key)
    again = http.post("/v1/uploads", content=clip.read_bytes(), headers=key)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json()["replayed"] is True and again.json()["id"] == first.json()["id"]

    # An object already sits where this key's upload must go (another replica's, say):
    # completing the multipart upload with If-None-Match: * fails, nothing is overwritten.
    other = f"taken-{time.time_ns()}"
    # Keys are scoped to the token's name; TOKEN, given bare, is the token named "default".
    upload_id = idem.upload_id_for_key(idem.key_hash("default", other))
    taken = S3Uri(env.bucket, f"uploads/{upload_id}.mp4")
    assert env.server.objects().put(taken, b"first writer")
    r = http.post("/v1/uploads", content=clip.read_bytes(), headers={"Idempotency-Key": other})
    assert r.status_code == 409 and r.json()["error"] == "idempotency_conflict", r.text
    assert env.server.objects().read(taken) == b"first writer"
    assert env.open_uploads() == []
    listed = env.cluster.get_json("tj", "-n", env.namespace)["items"]
    assert upload_id not in [item["metadata"]["name"] for item in listed]
