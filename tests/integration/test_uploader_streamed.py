"""Streamed uploads to the volume: raw and multipart bodies become TranscodeJobs; what is not
a video, invalid options, a body over the cap and a form of many fields are refused early,
with nothing left behind and memory flat.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_uploader_harness import (
    Uploader,
    pad_mp4,
    raw_request,
    reset_peak_rss,
    rss_kib,
    stream_until_answer,
)
from tests.integration.test_uploader_volume_harness import (
    AUTH,
    CAP,
    tj,
    uploads,
)

pytestmark = pytest.mark.cluster


def test_raw_upload_creates_a_transcodejob(up: Uploader, http: httpx.Client, clip: Path) -> None:
    options = {
        "renditions": [{"name": "180p", "height": 180, "videoBitrateKbps": 300}],
        "sourcePolicy": "Retain",
        "priority": 5,
    }
    r = http.post(
        "/v1/uploads",
        params={"options": json.dumps(options)},
        content=clip.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    job_id = body["id"]
    assert body["statusUrl"] == f"{up.base}/v1/jobs/{job_id}"
    assert body["eventsUrl"] == f"ws://127.0.0.1:{up.port}/v1/jobs/{job_id}/events"
    assert body["playbackUrl"] == f"{up.base}/v1/jobs/{job_id}/hls/master.m3u8"
    assert r.headers["location"] == body["statusUrl"]
    spec = tj(up, job_id)["spec"]
    assert spec["source"] == f"uploads/{job_id}.mp4"
    assert spec["output"] == f"hls/{job_id}"
    assert spec["renditions"] == [{"name": "180p", "height": 180, "videoBitrateKbps": 300}]
    assert (spec["sourcePolicy"], spec["priority"]) == ("Retain", 5)
    assert (up.media_root / spec["source"]).read_bytes() == clip.read_bytes()
    assert http.get(f"/v1/jobs/{job_id}").json()["phase"] == "Pending"


def test_multipart_upload_never_uses_the_client_filename(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    before = uploads(up)
    r = http.post(
        "/v1/uploads",
        files={"file": ("../../../etc/cron.d/evil.mp4", clip.read_bytes(), "video/mp4")},
        data={"options": json.dumps({"segmentFormat": "fmp4", "maxRetries": 1})},
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    assert sorted(set(uploads(up)) - set(before)) == [f"{job_id}.mp4"]
    spec = tj(up, job_id)["spec"]
    assert (spec["segmentFormat"], spec["maxRetries"]) == ("fmp4", 1)
    assert not Path("/etc/cron.d/evil.mp4").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"just some meeting notes, not a video\n" * 40, "TextFile"),
        (b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nfile:///etc/passwd\n", "Playlist"),
        (b"ffconcat version 1.0\nfile '/etc/passwd'\n", "Playlist"),
        (b"<!doctype html><script>alert(1)</script>" + b" " * 2000, "Markup"),
        (b"%PDF-1.7\n" + b"\x00" * 3000, "Document"),
        (b"\x00\x00\x00\x20ftypisom" + b"\x00\x01" * 40_000, "ProbeFailed"),
    ],
)
def test_what_is_not_a_video_is_422_and_nothing_stays(
    up: Uploader, http: httpx.Client, content: bytes, reason: str
) -> None:
    before = uploads(up)
    for r in (
        http.post("/v1/uploads", content=content),
        http.post("/v1/uploads", files={"file": ("video.mp4", content, "video/mp4")}),
    ):
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_media"
        assert r.json()["reason"] == reason, r.json()
    assert uploads(up) == before
    assert up.metric(f'hlsforge_upload_rejections_total{{reason="{reason}"}}') >= 2


def test_invalid_options_are_422_before_the_body_is_stored(
    up: Uploader, http: httpx.Client
) -> None:
    r = http.post(
        "/v1/uploads",
        params={"options": json.dumps({"video": {"codec": "h265"}})},
        content=b"\x00" * 1000,
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_options"
    assert "fmp4" in r.json()["detail"]


def test_413_as_soon_as_the_cap_is_crossed_with_flat_memory(up: Uploader) -> None:
    before = uploads(up)
    # Declared too large: refused before a byte of the body is read.
    status, _, body = raw_request(
        up.port, "POST", "/v1/uploads", {**AUTH, "Content-Length": str(CAP + 1)}
    )
    assert status == 413 and json.loads(body)["error"] == "upload_too_large"

    # Not declared (chunked): refused while streaming, as soon as the cap is crossed.
    reset_peak_rss(up.pid)
    rss_before = rss_kib(up.pid)["VmRSS"]
    head = b"\x00\x00\x00\x20ftypisom" + b"\x00" * (1024 * 1024 - 12)
    block = b"\x00" * (1024 * 1024)
    total = 4 * CAP
    sent = {"n": 0}

    def chunk() -> bytes | None:
        if sent["n"] >= total:
            return None
        sent["n"] += len(block)
        return head if sent["n"] == len(block) else block

    result = stream_until_answer(up.port, "/v1/uploads", AUTH, chunk)
    assert result.status == 413, result
    assert result.body["error"] == "upload_too_large"
    assert result.sent < CAP + 32 * 1024 * 1024, f"answered only after {result.sent} bytes"
    growth_mib = (rss_kib(up.pid)["VmHWM"] - rss_before) / 1024
    assert growth_mib < 32, f"peak RSS grew {growth_mib:.0f} MiB during a {CAP >> 20} MiB body"
    time.sleep(0.5)
    assert uploads(up) == before  # the partial file is gone
    assert not list((up.media_root / "uploads").glob(".*"))


def test_a_form_of_many_small_fields_is_400_early_with_flat_memory(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    """Issue 13's OOM: every field under the per-field cap, but 200,000 of them."""
    boundary = "hlsforgeManyFields"
    field = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\n{"x" * 64}\r\n'
    ).encode()
    block = field * 1000
    sent = {"n": 0}

    def chunk() -> bytes | None:
        if sent["n"] >= 1000:  # 132 MB of fields, if nobody stops it
            return None
        sent["n"] += 1
        return block

    reset_peak_rss(up.pid)
    rss_before = rss_kib(up.pid)["VmRSS"]
    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    result = stream_until_answer(up.port, "/v1/uploads", headers, chunk)
    assert result.status == 400, result
    assert "at most 16 parts" in result.body["detail"], result.body
    # Refused after the 17th part; what was sent by then is what the socket buffers held.
    assert result.sent < 16 * 1024 * 1024, f"answered only after {result.sent} bytes"
    growth_mib = (rss_kib(up.pid)["VmHWM"] - rss_before) / 1024
    assert growth_mib < 16, f"peak RSS grew {growth_mib:.0f} MiB"
    # The uploader is still there and takes a normal upload.
    with clip.open("rb") as body:
        r = http.post("/v1/uploads", content=body, headers={"Content-Type": "video/mp4"})
    assert r.status_code == 201, r.text


def test_a_large_accepted_upload_keeps_memory_flat(
    up: Uploader, http: httpx.Client, clip: Path, tmp_path: Path
) -> None:
    big = pad_mp4(clip, tmp_path / "big.mp4", CAP - 1024)
    reset_peak_rss(up.pid)
    rss_before = rss_kib(up.pid)["VmRSS"]

    def body() -> Iterator[bytes]:
        with big.open("rb") as f:
            while block := f.read(1 << 20):
                yield block

    r = http.post("/v1/uploads", content=body())
    assert r.status_code == 201, r.text
    growth_mib = (rss_kib(up.pid)["VmHWM"] - rss_before) / 1024
    assert growth_mib < 32, f"peak RSS grew {growth_mib:.0f} MiB for a {CAP >> 20} MiB upload"
    source = up.media_root / tj(up, r.json()["id"])["spec"]["source"]
    assert source.stat().st_size == big.stat().st_size
    big.unlink()
