"""Named tokens on the real uploader and API server: each token sees, plays, follows and
deletes only the jobs it created (another token's job is 404, as a missing one), an admin
sees all; per-token quotas answer 429 with Retry-After before the body is read; /metrics is
served on its own port and not on the API's; /docs and /openapi.json behind a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.integration.conftest import KubeCluster
from tests.integration.harness import install_crds
from tests.integration.test_uploader_harness import (
    ARTIFACTS,
    TOKEN,
    Uploader,
    free_port,
    make_clip,
    wait_for,
)
from tests.integration.test_uploader_volume_harness import set_status

pytestmark = pytest.mark.cluster

NAMED = {name: f"it-{name}-token-5d1c" for name in ("alice", "bob", "carol", "dave", "erin")}
"""Tokens of this module's uploader; ``TOKEN`` (bare, so named ``default``) is the admin."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture(scope="module")
def up(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory, clip: Path
) -> Iterator[Uploader]:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("tok")
    size = clip.stat().st_size
    settings = {
        "HLSFORGE_TOKENS": ",".join([TOKEN, *(f"{n}={t}" for n, t in NAMED.items())]),
        "HLSFORGE_QUOTAS__CONCURRENT_UPLOADS": "1",
        "HLSFORGE_QUOTAS__BYTES_PER_HOUR": str(size * 2 + size // 2),
        "HLSFORGE_METRICS_PORT": str(free_port()),
        "HLSFORGE_DOCS": "token",
    }
    uploader = Uploader(
        kube_cluster,
        namespace,
        tmp_path_factory.mktemp("media"),
        ARTIFACTS / f"uploader-{namespace}.log",
        settings=settings,
    ).start()
    try:
        yield uploader
    finally:
        uploader.stop()


def client(up: Uploader, name: str | None) -> httpx.Client:
    token = TOKEN if name is None else NAMED[name]
    return httpx.Client(base_url=up.base, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def upload(up: Uploader, name: str, clip: Path) -> str:
    with client(up, name) as c:
        r = c.post("/v1/uploads", content=clip.read_bytes())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def listed(up: Uploader, name: str | None) -> set[str]:
    with client(up, name) as c:
        r = c.get("/v1/jobs", params={"limit": 500})
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


def test_a_token_sees_plays_and_deletes_only_its_own_jobs(up: Uploader, clip: Path) -> None:
    mine, theirs = upload(up, "alice", clip), upload(up, "bob", clip)
    label = up.cluster.get_json("tj", theirs, "-n", up.namespace)["metadata"]["labels"]
    assert label["hlsforge.io/token"] == "bob"
    up.cluster.apply(  # a job made with kubectl: no token label, the admin's to see
        {
            "apiVersion": "hlsforge.io/v1alpha1",
            "kind": "TranscodeJob",
            "metadata": {"name": "by-kubectl"},
            "spec": {"source": "uploads/none.mp4", "output": "hls/by-kubectl"},
        },
        namespace=up.namespace,
    )
    out = up.media_root / "hls" / theirs
    out.mkdir(parents=True)
    (out / "master.m3u8").write_text("#EXTM3U\n")
    set_status(up, theirs, {"phase": "Succeeded", "progress": 100})

    assert listed(up, "alice") == {mine}
    assert listed(up, "bob") == {theirs}
    assert listed(up, None) >= {mine, theirs, "by-kubectl"}
    with client(up, "bob") as bob:
        wait_for(
            "bob's playlist",
            lambda: bob.get(f"/v1/jobs/{theirs}/hls/master.m3u8").status_code == 200,
            timeout=10,
        )
    with client(up, "alice") as alice:
        for method, path in [
            ("GET", f"/v1/jobs/{theirs}"),
            ("GET", f"/v1/jobs/{theirs}/hls/master.m3u8"),
            ("DELETE", f"/v1/jobs/{theirs}"),
            ("GET", "/v1/jobs/by-kubectl"),
            ("DELETE", "/v1/jobs/by-kubectl"),
        ]:
            r = alice.request(method, path)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["error"] == "not_found"
        # The same answer as for a job that does not exist.
        assert alice.get("/v1/jobs/up-nosuchjob").json()["detail"].startswith("no job")
        assert alice.get(f"/v1/jobs/{mine}").status_code == 200
    assert up.cluster.get_json("tj", theirs, "-n", up.namespace)["metadata"]["name"] == theirs
    with client(up, None) as admin:
        assert admin.get(f"/v1/jobs/{theirs}").status_code == 200
        assert admin.get("/v1/jobs/by-kubectl").status_code == 200
        assert admin.get(f"/v1/jobs/{theirs}/hls/master.m3u8").status_code == 200
    with client(up, "bob") as bob:
        assert bob.delete(f"/v1/jobs/{theirs}").status_code == 204


def test_event_streams_carry_only_the_callers_jobs(up: Uploader, clip: Path) -> None:
    mine = upload(up, "alice", clip)
    theirs = listed(up, "bob") or {upload(up, "bob", clip)}
    ws_base = up.base.replace("http", "ws")

    async def snapshot(token: str, path: str = "/v1/events") -> Any:
        protocols = [Subprotocol("hlsforge.v1"), Subprotocol(f"bearer.{token}")]
        try:
            async with websockets.connect(ws_base + path, subprotocols=protocols) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 10))
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None

    alice = asyncio.run(snapshot(NAMED["alice"]))
    ids = {job["id"] for job in alice["jobs"]}
    assert mine in ids and not ids & theirs
    everything = {job["id"] for job in asyncio.run(snapshot(TOKEN))["jobs"]}
    assert {mine, *theirs} <= everything
    other = next(iter(theirs))
    assert asyncio.run(snapshot(NAMED["alice"], f"/v1/jobs/{other}/events")) == 4404
    assert asyncio.run(snapshot(NAMED["bob"], f"/v1/jobs/{other}/events"))["type"] == "snapshot"


@contextlib.contextmanager
def held_upload(up: Uploader, token: str, clip: Path) -> Iterator[None]:
    """An upload whose body stops halfway: it holds its slot until the socket closes."""
    data = clip.read_bytes()
    sock = socket.create_connection(("127.0.0.1", up.port), timeout=30)
    try:
        head = (
            f"POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[: len(data) // 2])
        yield
    finally:
        sock.close()


def test_concurrent_uploads_per_token_are_limited_with_retry_after(
    up: Uploader, clip: Path
) -> None:
    with held_upload(up, NAMED["dave"], clip):

        def refused() -> httpx.Response | None:
            with client(up, "dave") as dave:
                r = dave.post("/v1/uploads", content=clip.read_bytes())
            return r if r.status_code == 429 else None

        r = wait_for("the second upload refused", refused, timeout=10)
        assert r.json()["error"] == "quota_exceeded"
        assert r.json()["quota"] == "concurrent_uploads"
        assert int(r.headers["retry-after"]) >= 1
        upload(up, "erin", clip)  # another token is not held back
    with client(up, "dave") as dave:  # the slot is given back when the body is cut
        wait_for(
            "dave's slot",
            lambda: dave.post("/v1/uploads", content=clip.read_bytes()).status_code == 201,
            timeout=15,
        )


def test_bytes_per_hour_per_token_answer_429_with_retry_after(up: Uploader, clip: Path) -> None:
    first = upload(up, "carol", clip)
    upload(up, "carol", clip)
    with client(up, "carol") as carol:
        r = carol.post("/v1/uploads", content=clip.read_bytes())
        assert r.status_code == 429, r.text
        assert r.json()["quota"] == "bytes_per_hour"
        assert 3000 < int(r.headers["retry-after"]) <= 3600
        # Deleting a job does not give its bytes back.
        assert carol.delete(f"/v1/jobs/{first}").status_code == 204
        wait_for("the delete", lambda: carol.get(f"/v1/jobs/{first}").status_code == 404, 30)
        assert carol.post("/v1/uploads", content=clip.read_bytes()).status_code == 429
    upload(up, "erin", clip)  # others are not held back


def test_metrics_on_their_own_port_and_docs_behind_a_token(up: Uploader) -> None:
    port = int(up.settings["HLSFORGE_METRICS_PORT"])
    with httpx.Client(timeout=10) as anon:
        r = anon.get(f"http://127.0.0.1:{port}/metrics")
        assert r.status_code == 200 and "hlsforge_upload_bytes_total" in r.text
        assert anon.get(f"{up.base}/metrics").status_code == 404
        assert anon.get(f"http://127.0.0.1:{port}/v1/jobs").status_code == 404
        for path in ("/docs", "/openapi.json"):
            assert anon.get(up.base + path).status_code == 401, path
        assert anon.get(f"{up.base}/healthz").status_code == 200
    with client(up, "alice") as alice:
        assert "/v1/uploads" in alice.get("/openapi.json").json()["paths"]
        assert alice.get("/docs").status_code == 200
