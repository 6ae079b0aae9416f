"""Bodies that arrive too slowly (stalled, or trickling) are 408 and their partial files
removed; an upload that would leave the volume without its reserve is 507 before it is read.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integration.test_uploader_harness import Uploader, stream_until_answer
from tests.integration.test_uploader_volume_harness import (
    AUTH,
    IDLE,
    sibling_uploader,
    uploads,
)

pytestmark = pytest.mark.cluster


def test_a_stalled_body_is_408_and_its_partial_file_removed(up: Uploader, clip: Path) -> None:
    with sibling_uploader(up, "idle", HLSFORGE_BODY_IDLE_TIMEOUT_SECONDS=str(IDLE)) as impatient:
        before = uploads(up)
        data = clip.read_bytes()
        sent = {"n": 0}
        started = time.monotonic()

        def chunk() -> bytes | None:
            sent["n"] += 1
            return data[:100_000] if sent["n"] == 1 else None

        def stall(_: int) -> None:
            # The body stops: the server must not wait forever. The window the first chunk
            # arrived in is satisfied by it, so the stall is judged at the end of the next.
            time.sleep(2 * IDLE + 2)

        result = stream_until_answer(impatient.port, "/v1/uploads", AUTH, chunk, stall)
        assert result.status == 408 and result.body["error"] == "upload_stalled"
        assert time.monotonic() - started < 2 * IDLE + 5
        assert uploads(up) == before
        assert not list((up.media_root / "uploads").glob(".*"))


def test_a_trickling_body_is_408_although_it_is_never_idle(up: Uploader, clip: Path) -> None:
    """Issue 13: a per-chunk idle timer let a client hold an upload open forever with a byte
    now and then. The body must bring 8 KiB/s on average over each window (IDLE s here)."""
    with sibling_uploader(up, "trickle", HLSFORGE_BODY_IDLE_TIMEOUT_SECONDS=str(IDLE)) as impatient:
        before = uploads(up)
        data = clip.read_bytes()
        sent = {"n": 0}
        started = time.monotonic()

        def chunk() -> bytes | None:
            sent["n"] += 1
            if sent["n"] == 1:
                return data[:100_000]  # a real start: the first window passes
            return b"\x00" * 100 if sent["n"] < 200 else None  # then 100 B per 0.25 s

        def trickle(_: int) -> None:
            time.sleep(0.25)  # never idle for IDLE seconds, far below the floor

        result = stream_until_answer(impatient.port, "/v1/uploads", AUTH, chunk, trickle)
        assert result.status == 408 and result.body["error"] == "upload_stalled", result
        assert "below the floor" in result.body["detail"]
        assert time.monotonic() - started < 3 * IDLE + 3
        assert uploads(up) == before
        assert not list((up.media_root / "uploads").glob(".*"))


def test_an_upload_that_would_fill_the_volume_is_507_before_it_is_read(
    up: Uploader, clip: Path
) -> None:
    """The reserve is larger than any disk here, so the real statvfs answer refuses it."""
    with sibling_uploader(up, "cramped", HLSFORGE_MIN_FREE_BYTES=str(1 << 50)) as cramped:
        before = uploads(up)
        headers = {**AUTH, "Content-Type": "video/mp4"}
        with httpx.Client(base_url=f"http://127.0.0.1:{cramped.port}", timeout=30) as client:
            declared = client.post("/v1/uploads", content=clip.read_bytes(), headers=headers)
            chunked = client.post("/v1/uploads", content=iter([clip.read_bytes()]), headers=headers)
        for r in (declared, chunked):
            assert r.status_code == 507, r.text
            assert r.json()["error"] == "insufficient_storage" and "bytes free" in r.text
        assert f"after its {clip.stat().st_size} bytes" in declared.text
        assert uploads(up) == before
