"""Per-job maxima over HTTP: options beyond one are 422 ``invalid_options`` naming the field, for
raw, multipart and direct uploads, with nothing stored and no TranscodeJob created; within
them the job is created as asked. Uploaders here run with limits of their own
(``HLSFORGE_JOB_LIMITS__*``), so the test also proves the settings reach the check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import KubeCluster
from tests.integration.test_uploader_harness import Uploader, stream_until_answer
from tests.integration.test_uploader_s3_harness import (
    install_crds,
    new_bucket,
    object_keys,
    s3_uploader,
)
from tests.integration.test_uploader_volume_harness import AUTH, sibling_uploader, tj, uploads
from tests.s3server import S3Server

pytestmark = pytest.mark.cluster

LIMITS = {
    "HLSFORGE_JOB_LIMITS__CPU": "2",
    "HLSFORGE_JOB_LIMITS__MEMORY": "4Gi",
    "HLSFORGE_JOB_LIMITS__DEADLINE_SECONDS": "7200",
    "HLSFORGE_JOB_LIMITS__PRIORITY": "50",
    "HLSFORGE_JOB_LIMITS__HTTP_PRIORITY": "3",
}
BEYOND: list[tuple[dict[str, Any], list[str]]] = [
    ({"priority": 4}, ["priority"]),  # within kubectl's 50, beyond HTTP's 3
    ({"resources": {"requests": {"cpu": "2500m"}}}, ["resources.requests.cpu"]),
    (
        {"resources": {"limits": {"memory": "5Gi", "cpu": "3"}}, "activeDeadlineSeconds": 7201},
        ["resources.limits.cpu", "resources.limits.memory", "activeDeadlineSeconds"],
    ),
]


@pytest.fixture(scope="module")
def limited(up: Uploader) -> Iterator[Uploader]:
    with sibling_uploader(up, "limits", **LIMITS) as sibling:
        yield sibling


def job_names(up: Uploader) -> list[str]:
    items = up.cluster.get_json("tj", "-n", up.namespace)["items"]
    return sorted(i["metadata"]["name"] for i in items)


def hidden(up: Uploader) -> list[Path]:
    folder = up.media_root / "uploads"
    return list(folder.glob(".*")) if folder.exists() else []


def assert_refused(r: httpx.Response, fields: list[str]) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_options", body
    assert body["fields"] == fields, body
    for field in fields:
        assert f"{field}: " in body["detail"] and "maximum" in body["detail"], body


@pytest.mark.parametrize(("options", "fields"), BEYOND, ids=["priority", "cpu", "several"])
def test_raw_and_multipart_uploads_beyond_a_maximum_are_422_and_leave_nothing(
    limited: Uploader, clip: Path, options: dict[str, Any], fields: list[str]
) -> None:
    before, jobs = uploads(limited), job_names(limited)
    text = json.dumps(options)
    with httpx.Client(base_url=limited.base, headers=AUTH, timeout=60) as http:
        answers = [
            http.post("/v1/uploads", params={"options": text}, content=clip.read_bytes()),
            # The options after the file: the whole file was stored, then removed.
            http.post(
                "/v1/uploads",
                files={"file": ("a.mp4", clip.read_bytes(), "video/mp4")},
                data={"options": text},
            ),
        ]
    for r in answers:
        assert_refused(r, fields)
    assert uploads(limited) == before
    assert hidden(limited) == []
    assert job_names(limited) == jobs


def test_options_that_precede_the_file_refuse_it_before_it_is_stored(limited: Uploader) -> None:
    """A multipart body whose options come first, then a file that never ends: the answer
    comes after the options part, not after the file."""
    boundary = "hlsforgeLimits"
    options = json.dumps({"resources": {"limits": {"memory": "64Gi"}}})
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="options"\r\n\r\n{options}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + b"\x00\x00\x00\x20ftypisom"
    block = b"\x00" * (256 * 1024)
    sent = {"n": 0}

    def chunk() -> bytes | None:
        sent["n"] += 1
        if sent["n"] > 400:  # 100 MiB, if nobody stops it
            return None
        return head if sent["n"] == 1 else block

    before = uploads(limited)
    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    result = stream_until_answer(limited.port, "/v1/uploads", headers, chunk)
    assert result.status == 422, result
    assert result.body["fields"] == ["resources.limits.memory"], result.body
    assert result.sent < 16 * 1024 * 1024, f"answered only after {result.sent} bytes"
    assert uploads(limited) == before and hidden(limited) == []


def test_a_job_at_the_maxima_is_created_as_asked(limited: Uploader, clip: Path) -> None:
    options = {
        "priority": 3,
        "activeDeadlineSeconds": 7200,
        "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    }
    with httpx.Client(base_url=limited.base, headers=AUTH, timeout=60) as http:
        r = http.post(
            "/v1/uploads",
            files={"file": ("a.mp4", clip.read_bytes(), "video/mp4")},
            data={"options": json.dumps(options)},
        )
    assert r.status_code == 201, r.text
    spec = tj(limited, r.json()["id"])["spec"]
    assert (spec["priority"], spec["activeDeadlineSeconds"]) == (3, 7200)
    assert spec["resources"] == options["resources"]


def test_a_direct_upload_beyond_a_maximum_gets_no_ticket(
    kube_cluster: KubeCluster, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("upllim")
    bucket = new_bucket(s3_server, "limits")
    scratch = tmp_path_factory.mktemp("s3-limits")
    with s3_uploader(kube_cluster, s3_server, namespace, bucket, scratch, **LIMITS) as direct:
        r = httpx.post(
            f"{direct.base}/v1/uploads/direct",
            params={"size": 4096},
            content=json.dumps({"priority": 4, "maxRetries": 3}),
            headers={**AUTH, "Content-Type": "application/json"},
            timeout=30,
        )
        assert_refused(r, ["priority"])
        assert object_keys(s3_server, bucket) == []  # no pending record, no ticket
        ok = httpx.post(
            f"{direct.base}/v1/uploads/direct",
            params={"size": 4096},
            content=json.dumps({"priority": 3}),
            headers={**AUTH, "Content-Type": "application/json"},
            timeout=30,
        )
        assert ok.status_code == 201, ok.text
