"""An uploader killed (SIGKILL) between storing an upload and creating its TranscodeJob: a
retry with the same Idempotency-Key, on the restarted uploader, ends in that one job.

The kill comes at a step the test controls, with no hook in the uploader: its API server
connection goes through a relay the test freezes (``test_uploader_crash_harness``), so the
job's creation hangs after the body was stored, probed and reserved. Real processes, real API
server, real ffprobe, a real volume folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hlsforge_storage.locations import S3Uri
from tests.integration.conftest import KubeCluster
from tests.integration.test_uploader_crash_harness import relayed_kubeconfig
from tests.integration.test_uploader_harness import (
    ARTIFACTS,
    PausedUpload,
    Uploader,
    wait_for,
)
from tests.integration.test_uploader_s3_harness import new_bucket, object_keys, s3_settings
from tests.integration.test_uploader_volume_harness import AUTH
from tests.s3server import S3Server

pytestmark = pytest.mark.cluster

TAKEOVER = 15.0
"""``HLSFORGE_IDEMPOTENCY_TAKEOVER_SECONDS`` here: long enough to see the 409 first."""
BODY_BYTES = "hlsforge_upload_bytes_total"


def _uploader(cluster: KubeCluster, namespace: str, media: Path, name: str, **env: str) -> Uploader:
    settings = {"HLSFORGE_IDEMPOTENCY_TAKEOVER_SECONDS": str(TAKEOVER), **env}
    log = ARTIFACTS / f"uploader-{namespace}-{name}.log"
    return Uploader(cluster, namespace, media, log, settings=settings)


def _jobs(cluster: KubeCluster, namespace: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = cluster.get_json("tj", "-n", namespace)["items"]
    return items


def crash_after_storing(
    cluster: KubeCluster,
    namespace: str,
    media: Path,
    env: dict[str, str],
    key: dict[str, str],
    data: bytes,
    stored: Callable[[], bool],
    scratch: Path,
) -> float:
    """Upload ``data`` with ``key`` to an uploader whose API connection freezes once the body is
    being read, wait until ``stored()``, SIGKILL it there; returns the time of the kill."""
    with relayed_kubeconfig(cluster.kubeconfig, scratch / "relayed.kubeconfig") as (
        config,
        relay,
    ):
        doomed = _uploader(cluster, namespace, media, "doomed", **env, KUBECONFIG=str(config))
        doomed.start()
        try:
            upload = PausedUpload(doomed.port, "/v1/uploads", {**AUTH, **key}, data).start()
            # The body is being read: the key's job lookup (an API call) is behind it.
            wait_for("the body to be read", lambda: doomed.metric(BODY_BYTES) > 0, timeout=30)
            relay.freeze()  # from now on the job's creation hangs
            upload.release()
            wait_for("the upload to be stored", stored, timeout=60)
            time.sleep(0.5)  # the reservation and the hanging create follow at once
            os.killpg(doomed.pid, signal.SIGKILL)
            killed = time.time()
            assert doomed.proc is not None
            doomed.proc.wait(10)
        finally:
            doomed.stop()
    return killed


def retry_makes_the_one_job(
    cluster: KubeCluster,
    namespace: str,
    media: Path,
    env: dict[str, str],
    key: dict[str, str],
    data: bytes,
    killed: float,
) -> str:
    """Restart, retry: 409 while the reservation is young, then 201 and one job; its id."""
    assert _jobs(cluster, namespace) == []  # the crash: stored, reserved, no job
    again = _uploader(cluster, namespace, media, "restarted", **env).start()
    try:
        headers = {**AUTH, **key}
        early = httpx.post(f"{again.base}/v1/uploads", content=data, headers=headers, timeout=60)
        # Younger than the takeover time, the stored upload may still be someone's in flight.
        assert early.status_code == 409, early.text
        assert early.json()["error"] == "idempotency_conflict"
        time.sleep(max(0.0, killed + TAKEOVER + 0.5 - time.time()))
        late = httpx.post(f"{again.base}/v1/uploads", content=data, headers=headers, timeout=60)
        assert late.status_code == 201, late.text
        upload_id = str(late.json()["id"])
        assert [j["metadata"]["name"] for j in _jobs(cluster, namespace)] == [upload_id]  # type: ignore[index]
        replay = httpx.post(f"{again.base}/v1/uploads", content=data, headers=headers, timeout=60)
        assert replay.status_code == 201 and replay.json()["replayed"] is True
        other = httpx.post(
            f"{again.base}/v1/uploads", content=data + b"\0", headers=headers, timeout=60
        )
        assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
        assert len(_jobs(cluster, namespace)) == 1
    finally:
        again.stop()
    return upload_id


def test_a_retry_after_a_crash_between_stored_and_job_created_makes_the_one_job(
    up: Uploader, clip: Path, tmp_path: Path
) -> None:
    cluster = up.cluster  # ``up``: the CRD is installed
    namespace = cluster.create_namespace("crash")
    media = tmp_path / "media"
    media.mkdir()
    key = {"Idempotency-Key": f"crash-{time.time_ns()}"}
    data = clip.read_bytes()

    def stored() -> list[Path]:
        return [p for p in (media / "uploads").glob("up-k*.mp4") if p.is_file()]

    killed = crash_after_storing(
        cluster, namespace, media, {}, key, data, lambda: bool(stored()), tmp_path
    )
    (source,) = stored()
    upload_id = source.name.removesuffix(".mp4")
    claim = media / ".hlsforge" / "claims" / "uploads" / f"{upload_id}.mp4.claim.json"
    assert json.loads(claim.read_text())["uid"] == ""  # reserved, never adopted

    assert retry_makes_the_one_job(cluster, namespace, media, {}, key, data, killed) == upload_id
    job = cluster.get_json("tj", upload_id, "-n", namespace)
    assert job["spec"]["source"] == f"uploads/{upload_id}.mp4"
    assert source.read_bytes() == data  # the stored file, neither lost nor replaced
    assert not list((media / "uploads").glob(".*part*"))  # the retry's copy is gone


def test_the_same_on_s3(up: Uploader, s3_server: S3Server, clip: Path, tmp_path: Path) -> None:
    """In S3 mode the stored object is checked by a GET (SHA-256) and probed by URL."""
    cluster = up.cluster
    namespace = cluster.create_namespace("crashs3")
    bucket = new_bucket(s3_server, "crash")
    env = s3_settings(s3_server, bucket)
    key = {"Idempotency-Key": f"crash-s3-{time.time_ns()}"}
    data = clip.read_bytes()

    def stored() -> list[str]:
        return [
            k for k in object_keys(s3_server, bucket) if re.fullmatch(r"uploads/up-k\w+\.mp4", k)
        ]

    killed = crash_after_storing(
        cluster, namespace, tmp_path, env, key, data, lambda: bool(stored()), tmp_path
    )
    (source,) = stored()
    upload_id = source.removeprefix("uploads/").removesuffix(".mp4")
    objects = s3_server.objects()
    claim = S3Uri(bucket, f".hlsforge/claims/{source}.claim.json")
    assert json.loads(objects.read(claim))["uid"] == ""  # reserved, never adopted

    assert (
        retry_makes_the_one_job(cluster, namespace, tmp_path, env, key, data, killed) == upload_id
    )
    job = cluster.get_json("tj", upload_id, "-n", namespace)
    assert job["spec"]["source"] == f"s3://{bucket}/{source}"
    assert objects.read(S3Uri(bucket, source)) == data
    assert s3_server.open_multipart_uploads(bucket) == []  # the retry's parts were dropped
