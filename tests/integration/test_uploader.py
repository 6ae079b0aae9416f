"""The uploader's API against the running app with the real cluster behind it.

No transcoder pods are needed here: jobs are created and read through the real API server,
and where a finished output is needed (delivery) the test writes HLS files onto the volume
and sets the job's status through the status subresource, as the operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.integration.conftest import REPO, KubeCluster
from tests.integration.test_uploader_harness import (
    ARTIFACTS,
    TOKEN,
    Uploader,
    make_clip,
    pad_mp4,
    raw_request,
    reset_peak_rss,
    rss_kib,
    stream_until_answer,
)

pytestmark = pytest.mark.cluster

CAP = 96 * 1024 * 1024
IDLE = 2.0
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def up(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploader]:
    kube_cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "deploy" / "crds")
    )
    kube_cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    namespace = kube_cluster.create_namespace("upl")
    media = tmp_path_factory.mktemp("media")
    uploader = Uploader(
        kube_cluster,
        namespace,
        media,
        ARTIFACTS / f"uploader-{namespace}.log",
        settings={"HLSFORGE_MAX_UPLOAD_BYTES": str(CAP)},
    ).start()
    try:
        yield uploader
    finally:
        uploader.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture
def http(up: Uploader) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=up.base, headers=AUTH, timeout=60) as c:
        yield c


def uploads(up: Uploader) -> list[str]:
    folder = up.media_root / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def tj(up: Uploader, name: str) -> dict[str, Any]:
    return up.cluster.get_json("tj", name, "-n", up.namespace)


def set_status(up: Uploader, name: str, status: dict[str, Any]) -> None:
    up.cluster.kubectl(
        *("patch", "tj", name, "-n", up.namespace, "--subresource=status", "--type=merge"),
        "-p",
        json.dumps({"status": status}),
    )


# --- auth, health ----------------------------------------------------------------------------


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


# --- upload ----------------------------------------------------------------------------------


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


def test_direct_uploads_need_s3_storage(up: Uploader, http: httpx.Client) -> None:
    for path in ("/v1/uploads/direct", "/v1/uploads/up-aaaaaaaaaaaaaaaaaaaa/complete"):
        r = http.post(path, content=b"{}")
        assert r.status_code == 501, r.text
        assert r.json()["error"] == "not_supported"
        assert "HLSFORGE_STORAGE=s3" in r.json()["detail"]


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


@contextlib.contextmanager
def impatient_uploader(up: Uploader, name: str) -> Iterator[Uploader]:
    """Its own uploader judging bodies over IDLE-second windows (the module's tests pause
    bodies on purpose), stopped after."""
    impatient = Uploader(
        up.cluster,
        up.namespace,
        up.media_root,
        ARTIFACTS / f"uploader-{up.namespace}-{name}.log",
        settings={"HLSFORGE_BODY_IDLE_TIMEOUT_SECONDS": str(IDLE)},
    ).start()
    try:
        yield impatient
    finally:
        impatient.stop()


def test_a_stalled_body_is_408_and_its_partial_file_removed(up: Uploader, clip: Path) -> None:
    with impatient_uploader(up, "idle") as impatient:
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
    with impatient_uploader(up, "trickle") as impatient:
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
    cramped = Uploader(
        up.cluster,
        up.namespace,
        up.media_root,
        ARTIFACTS / f"uploader-{up.namespace}-cramped.log",
        settings={"HLSFORGE_MIN_FREE_BYTES": str(1 << 50)},
    ).start()
    try:
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
    finally:
        cramped.stop()


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


# --- idempotency -----------------------------------------------------------------------------


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
    halfway = threading.Event()
    proceed = threading.Event()
    position = {"n": 0}

    def chunk() -> bytes | None:
        if position["n"] >= len(data):
            return None
        piece = data[position["n"] : position["n"] + 64 * 1024]
        position["n"] += len(piece)
        return piece

    def pause(sent: int) -> None:
        if sent >= len(data) // 2 and not halfway.is_set():
            halfway.set()
            proceed.wait(30)

    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(
            stream_until_answer(up.port, "/v1/uploads", {**AUTH, **key}, chunk, pause)
        )
    )
    first.start()
    assert halfway.wait(30)
    time.sleep(0.3)
    dup = http.post("/v1/uploads", content=data, headers=key)
    proceed.set()
    first.join(60)
    assert dup.status_code == 409, dup.text
    assert dup.json()["error"] == "idempotency_conflict"
    assert results[0].status == 201
    assert http.post("/v1/uploads", content=data, headers=key).json()["replayed"] is True


def test_two_replicas_racing_on_one_key_make_one_job(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    """The in-process 409 cannot see another replica: the job's name (from the key) and the
    no-clobber commit on the shared volume make the slower replica replay instead."""
    second = Uploader(
        up.cluster, up.namespace, up.media_root, ARTIFACTS / f"uploader-{up.namespace}-2.log"
    ).start()
    try:
        key = {"Idempotency-Key": f"replicas-{time.time_ns()}"}
        data = clip.read_bytes()
        halfway, proceed = threading.Event(), threading.Event()
        position = {"n": 0}

        def chunk() -> bytes | None:
            if position["n"] >= len(data):
                return None
            piece = data[position["n"] : position["n"] + 64 * 1024]
            position["n"] += len(piece)
            return piece

        def pause(sent: int) -> None:
            if sent >= len(data) // 2 and not halfway.is_set():
                halfway.set()
                proceed.wait(30)

        slow: list[Any] = []
        thread = threading.Thread(
            target=lambda: slow.append(
                stream_until_answer(up.port, "/v1/uploads", {**AUTH, **key}, chunk, pause)
            )
        )
        thread.start()
        assert halfway.wait(30)
        fast = httpx.post(f"{second.base}/v1/uploads", content=data, headers={**AUTH, **key})
        proceed.set()
        thread.join(60)
        assert fast.status_code == 201 and fast.json()["replayed"] is False
        assert slow[0].status == 201 and slow[0].body["replayed"] is True
        assert slow[0].body["id"] == fast.json()["id"]
        job_id = fast.json()["id"]
        assert [f for f in uploads(up) if f.startswith(job_id)] == [f"{job_id}.mp4"]
        assert not list((up.media_root / "uploads").glob(f".{job_id}*"))  # no partial left
    finally:
        second.stop()


# --- jobs ------------------------------------------------------------------------------------


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


# --- live events -----------------------------------------------------------------------------


def test_status_changes_are_pushed_within_a_second_and_reconnects_resume(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    job_id = http.post("/v1/uploads", content=clip.read_bytes()).json()["id"]
    ws_base = up.base.replace("http", "ws")
    watch_events_before = up.metric('hlsforge_watch_events_total{type="MODIFIED"}')

    async def scenario() -> None:
        url = f"{ws_base}/v1/jobs/{job_id}/events"
        async with websockets.connect(url, additional_headers=AUTH) as ws:
            snap = json.loads(await ws.recv())
            assert snap["type"] == "snapshot" and [j["id"] for j in snap["jobs"]] == [job_id]
            # 12 more clients on the list-wide stream, browser-style auth.
            others = [
                await websockets.connect(
                    f"{ws_base}/v1/events",
                    subprotocols=[Subprotocol("hlsforge.v1"), Subprotocol(f"bearer.{TOKEN}")],
                )
                for _ in range(12)
            ]
            for other in others:
                assert other.subprotocol == "hlsforge.v1"
                assert json.loads(await other.recv())["type"] == "snapshot"
            assert up.metric("hlsforge_websocket_clients") == 13
            started = time.monotonic()
            await asyncio.to_thread(
                set_status, up, job_id, {"phase": "Running", "progress": 40, "speed": 2.5}
            )
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            patched_at = time.monotonic()
            assert event["type"] == "MODIFIED"
            assert (event["job"]["phase"], event["job"]["progress"]) == ("Running", 40)
            # kubectl's own start-up is in the measured time; the push itself is faster.
            assert patched_at - started < 3.0
            for other in others:
                got = json.loads(await asyncio.wait_for(other.recv(), 5))
                assert got["job"]["id"] == job_id and got["job"]["progress"] == 40
                await other.close()
            last_rv = event["resourceVersion"]
        # Missed while disconnected, then resumed: the missed change, not a snapshot.
        await asyncio.to_thread(set_status, up, job_id, {"phase": "Running", "progress": 80})
        await asyncio.sleep(0.5)
        async with websockets.connect(
            f"{url}?resourceVersion={last_rv}", additional_headers=AUTH
        ) as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert event["type"] == "MODIFIED" and event["job"]["progress"] == 80
        # A version the server no longer knows: a fresh snapshot.
        async with websockets.connect(f"{url}?resourceVersion=1", additional_headers=AUTH) as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert event["type"] == "snapshot" and event["jobs"][0]["progress"] == 80

    asyncio.run(scenario())
    # One watch for all 13 clients: each change was received once, not once per client.
    received = up.metric('hlsforge_watch_events_total{type="MODIFIED"}') - watch_events_before
    assert 2 <= received <= 3, received


def test_measured_push_latency_is_under_a_second(
    up: Uploader, http: httpx.Client, clip: Path
) -> None:
    """Timed from the API server's write (a patch through the Python client, no kubectl)."""
    from kubernetes import client, config

    api = client.CustomObjectsApi(config.new_client_from_config(str(up.cluster.kubeconfig)))  # type: ignore[no-untyped-call]
    job_id = http.post("/v1/uploads", content=clip.read_bytes()).json()["id"]

    async def scenario() -> list[float]:
        latencies: list[float] = []
        url = up.base.replace("http", "ws") + f"/v1/jobs/{job_id}/events"
        async with websockets.connect(url, additional_headers=AUTH) as ws:
            await ws.recv()
            for progress in (10, 20, 30, 40, 50):
                body = {"status": {"phase": "Running", "progress": progress}}
                await asyncio.to_thread(
                    api.patch_namespaced_custom_object_status,
                    "hlsforge.io",
                    "v1alpha1",
                    up.namespace,
                    "transcodejobs",
                    job_id,
                    body,
                )
                written = time.monotonic()
                event = json.loads(await asyncio.wait_for(ws.recv(), 5))
                latencies.append(time.monotonic() - written)
                assert event["job"]["progress"] == progress
        return latencies

    latencies = asyncio.run(scenario())
    assert max(latencies) < 1.0, latencies


# --- delivery --------------------------------------------------------------------------------


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

    from tests.integration.test_uploader_harness import wait_for

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
