"""The uploader's API surface on the real cluster: which routes need a token, the jobs
resource (list, pages, filter, delete), and direct uploads refused on volume storage.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.integration.test_uploader_harness import Uploader
from tests.integration.test_uploader_volume_harness import AUTH, set_status

pytestmark = pytest.mark.cluster


def test_health_metrics_and_docs_need_no_token_everything_else_does(up: Uploader) -> None:
    with httpx.Client(base_url=up.base, timeout=10) as anon:
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/ui/"):
            assert anon.get(path).status_code == 200, path
        assert "/v1/uploads" in anon.get("/openapi.json").json()["paths"]
        for method, path in [
            ("POST", "/v1/uploads"),
            ("GET", "/v1/jobs"),
            ("GET", "/v1/jobs/up-x"),
            ("DELETE", "/v1/jobs/up-x"),
            ("GET", "/v1/jobs/up-x/hls/master.m3u8"),
        ]:
            r = anon.request(method, path, content=b"\x00" * 10 if method == "POST" else None)
            assert r.status_code == 401, (method, path)
            assert r.json()["error"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")
        r = anon.get("/v1/jobs", headers={"Authorization": "Bearer wrong-token"})
        assert r.status_code == 401


def test_event_streams_refuse_a_missing_or_wrong_token(up: Uploader) -> None:
    async def attempt(path: str = "/v1/events", **kwargs: Any) -> int | None:
        url = up.base.replace("http", "ws") + path
        try:
            async with websockets.connect(url, **kwargs) as ws:
                await ws.recv()
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        except websockets.InvalidStatus as exc:
            return exc.response.status_code
        return None

    assert asyncio.run(attempt()) == 403
    assert asyncio.run(attempt(path="/v1/jobs/up-nope/events", additional_headers=AUTH)) == 4404
    assert (
        asyncio.run(attempt(subprotocols=[Subprotocol("hlsforge.v1"), Subprotocol("bearer.nope")]))
        == 403
    )
    assert asyncio.run(attempt(additional_headers={"Authorization": "Bearer nope"})) == 403


def test_direct_uploads_need_s3_storage(up: Uploader, http: httpx.Client) -> None:
    for path in ("/v1/uploads/direct", "/v1/uploads/up-aaaaaaaaaaaaaaaaaaaa/complete"):
        r = http.post(path, content=b"{}")
        assert r.status_code == 501, r.text
        assert r.json()["error"] == "not_supported"
        assert "HLSFORGE_STORAGE=s3" in r.json()["detail"]


def test_jobs_are_listed_paged_and_filtered_and_deleted(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    ids = [http.post("/v1/uploads", content=clip.read_bytes()).json()["id"] for _ in range(3)]
    set_status(up, ids[0], {"phase": "Running", "progress": 12.5, "attempts": 1})
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["continue"] = cursor
        page = http.get("/v1/jobs", params=params).json()
        assert len(page["items"]) <= 2
        seen += [j["id"] for j in page["items"]]
        pages += 1
        cursor = page.get("next")
        if not cursor:
            break
    assert pages >= 2 and set(ids) <= set(seen) and len(seen) == len(set(seen))
    running = http.get("/v1/jobs", params={"phase": "Running", "limit": 500}).json()["items"]
    assert [j["id"] for j in running] == [ids[0]]
    assert running[0]["progress"] == 12.5
    assert http.get("/v1/jobs", params={"phase": "Bogus"}).status_code == 400

    assert http.delete(f"/v1/jobs/{ids[1]}").status_code == 204
    assert http.get(f"/v1/jobs/{ids[1]}").status_code in (200, 404)  # finalizers may hold it
    assert http.delete("/v1/jobs/up-does-not-exist").status_code == 404
    assert http.get("/v1/jobs/NOT_A_NAME").status_code == 404
