"""HLS delivery from the volume: only a Succeeded job's output, with exact types, cache
headers and ranges; traversal attempts are 400 or 404.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.integration.test_uploader_harness import Uploader, raw_request, wait_for
from tests.integration.test_uploader_volume_harness import AUTH, set_status

pytestmark = pytest.mark.cluster


def _fake_output(up: Uploader, job_id: str) -> Path:
    """The files a finished transcode leaves (content is irrelevant to delivery)."""
    out = up.media_root / "hls" / job_id
    (out / "180p").mkdir(parents=True, exist_ok=True)
    (out / "master.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n180p/index.m3u8\n")
    (out / "180p" / "index.m3u8").write_text("#EXTM3U\n#EXTINF:4,\nseg_00000.ts\n#EXT-X-ENDLIST\n")
    (out / "180p" / "seg_00000.ts").write_bytes(bytes(range(256)) * 100)
    (out / "180p" / "init.mp4").write_bytes(b"\x00" * 100)
    (out / "manifest.json").write_text("{}")
    (up.media_root / "secret.ts").write_bytes(b"outside")
    (out / "180p" / "link.ts").symlink_to(up.media_root / "secret.ts")
    return out


def test_hls_is_served_only_for_a_succeeded_job_with_types_cache_and_ranges(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    job_id = http.post("/v1/uploads", content=clip.read_bytes()).json()["id"]
    _fake_output(up, job_id)
    hls = f"/v1/jobs/{job_id}/hls"
    assert http.get(f"{hls}/master.m3u8").status_code == 404  # not Succeeded yet
    set_status(up, job_id, {"phase": "Succeeded", "progress": 100})

    def served() -> httpx.Response | None:
        r = http.get(f"{hls}/master.m3u8")
        return r if r.status_code == 200 else None

    r = wait_for("the playlist", served, timeout=10)
    assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "no-cache" in r.headers["cache-control"]
    seg = http.get(f"{hls}/180p/seg_00000.ts")
    assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t"
    assert "immutable" in seg.headers["cache-control"]
    assert http.get(f"{hls}/180p/init.mp4").headers["content-type"] == "video/mp4"
    part = http.get(f"{hls}/180p/seg_00000.ts", headers={"Range": "bytes=256-511"})
    assert part.status_code == 206
    assert part.headers["content-range"] == "bytes 256-511/25600"
    assert part.content == bytes(range(256))
    assert http.get(f"{hls}/manifest.json").status_code == 404  # not a file type we serve


@pytest.mark.parametrize(
    "suffix",
    [
        "../../../etc/passwd",
        "..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e/%2e%2e/secret.ts",
        "%2E%2E%2F%2E%2E%2Fsecret.ts",
        "180p/../../secret.ts",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "//etc/passwd.ts",
        "180p/link.ts",
        "180p%5c..%5c..%5csecret.ts",
        "180p/seg_00000.ts%00.m3u8",
    ],
)
def test_traversal_attempts_are_400_or_404(up: Uploader, http: httpx.Client, suffix: str) -> None:
    listed = http.get("/v1/jobs", params={"phase": "Succeeded", "limit": 500}).json()["items"]
    assert listed, "needs the succeeded job of the previous test"
    job_id = listed[0]["id"]
    status, _, body = raw_request(up.port, "GET", f"/v1/jobs/{job_id}/hls/{suffix}", AUTH)
    assert status in (400, 404), (suffix, status, body[:200])
    assert b"outside" not in body and b"root:" not in body
    assert json.loads(body)["error"] in ("bad_path", "not_found")
