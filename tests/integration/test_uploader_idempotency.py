"""Idempotency-Key on the real cluster: a retry replays, a concurrent duplicate is 409, and
two replicas racing on one key make one job.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integration.test_uploader_harness import PausedUpload, Uploader
from tests.integration.test_uploader_volume_harness import (
    AUTH,
    sibling_uploader,
    uploads,
)

pytestmark = pytest.mark.cluster


def test_a_retry_with_the_same_key_returns_the_same_job(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    key = {"Idempotency-Key": f"retry-{time.time_ns()}"}
    first = http.post("/v1/uploads", content=clip.read_bytes(), headers=key)
    again = http.post("/v1/uploads", content=clip.read_bytes(), headers=key)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    assert again.headers["idempotent-replayed"] == "true"
    listed = up.cluster.get_json("tj", "-n", up.namespace, "-l", "hlsforge.io/idempotency-key")[
        "items"
    ]
    assert [i["metadata"]["name"] for i in listed].count(first.json()["id"]) == 1
    other = http.post("/v1/uploads", content=clip.read_bytes() + b"\x00", headers=key)
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    opts = http.post(
        "/v1/uploads", content=clip.read_bytes(), headers=key, params={"options": '{"priority":1}'}
    )
    assert opts.status_code == 422
    # The same key from another caller is another key.
    assert len({i["metadata"]["name"] for i in listed}) == len(listed)


def test_a_concurrent_duplicate_is_409(up: Uploader, http: httpx.Client, clip: Path) -> None:
    key = {"Idempotency-Key": f"dup-{time.time_ns()}"}
    data = clip.read_bytes()
    first = PausedUpload(up.port, "/v1/uploads", {**AUTH, **key}, data).start()
    time.sleep(0.3)
    dup = http.post("/v1/uploads", content=data, headers=key)
    answer = first.resume()
    assert dup.status_code == 409, dup.text
    assert dup.json()["error"] == "idempotency_conflict"
    assert answer.status == 201
    assert http.post("/v1/uploads", content=data, headers=key).json()["replayed"] is True


def test_two_replicas_racing_on_one_key_make_one_job(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    """The in-process 409 cannot see another replica: the job's name (from the key) and the
    no-clobber commit on the shared volume make the slower replica replay instead."""
    with sibling_uploader(up, "2") as second:
        key = {"Idempotency-Key": f"replicas-{time.time_ns()}"}
        data = clip.read_bytes()
        slow = PausedUpload(up.port, "/v1/uploads", {**AUTH, **key}, data).start()
        fast = httpx.post(f"{second.base}/v1/uploads", content=data, headers={**AUTH, **key})
        late = slow.resume()
        assert fast.status_code == 201 and fast.json()["replayed"] is False
        assert late.status == 201 and late.body["replayed"] is True
        assert late.body["id"] == fast.json()["id"]
        job_id = fast.json()["id"]
        assert [f for f in uploads(up) if f.startswith(job_id)] == [f"{job_id}.mp4"]
        assert not list((up.media_root / "uploads").glob(f".{job_id}*"))  # no partial left
