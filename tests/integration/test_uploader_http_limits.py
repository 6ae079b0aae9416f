"""Issue 13: the uploader's HTTP server bounds what a client can hold without sending a request
(``hlsforge_uploader.server``): a head sent a byte at a time is dropped at the header deadline,
a crowd of stalled connections is shed at the connection cap while a normal upload goes
through, and an oversized head is 431. The uploader is the real process (uvicorn, httptools).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.hostile_clients import PARTIAL_HEAD, raw_exchange, slowloris, stalled_crowd, status_of
from tests.integration.test_uploader_harness import Uploader, wait_for
from tests.integration.test_uploader_volume_harness import AUTH, sibling_uploader

pytestmark = pytest.mark.cluster

DEADLINE = 3.0
"""``HLSFORGE_HTTP_HEADER_TIMEOUT_SECONDS`` of the impatient uploader."""


def test_a_head_sent_a_byte_a_second_is_dropped_at_the_deadline(up: Uploader) -> None:
    """uvicorn alone has no header timeout: its keep-alive timer is reset by every byte, so
    this client would hold the connection for as long as it has bytes to send (forever)."""
    settings = {"HLSFORGE_HTTP_HEADER_TIMEOUT_SECONDS": str(DEADLINE)}
    with sibling_uploader(up, "deadline", **settings) as impatient:
        got = slowloris(("127.0.0.1", impatient.port), PARTIAL_HEAD * 10, every=1.0, give_up=15)
    assert got.closed_after is not None, f"still open after 15 s ({got.sent} bytes sent)"
    assert DEADLINE - 0.5 < got.closed_after < DEADLINE + 2, got
    assert status_of(got.answer) == 408 and b'"request_timeout"' in got.answer, got.answer


def test_a_silent_connection_is_closed_at_the_deadline(up: Uploader) -> None:
    settings = {"HLSFORGE_HTTP_HEADER_TIMEOUT_SECONDS": str(DEADLINE)}
    with sibling_uploader(up, "silent", **settings) as impatient:
        started = time.monotonic()
        answer = raw_exchange(("127.0.0.1", impatient.port), b"", timeout=15)
        waited = time.monotonic() - started
    assert answer == b"" and waited < DEADLINE + 2, (answer, waited)


def test_a_stalled_crowd_is_shed_while_a_normal_upload_completes(up: Uploader, clip: Path) -> None:
    """300 connections that send part of a head and stall, against a cap of 100 connections
    and a deadline long enough not to help: the uploader holds no more than its cap in
    descriptors, the oldest of the crowd are shed, and an upload made while the rest stay
    open gets in and completes (201). uvicorn alone holds all 300 (and more, until it runs
    out of descriptors); with its limit_concurrency it would answer the upload 503."""
    settings = {
        "HLSFORGE_HTTP_MAX_CONNECTIONS": "100",
        "HLSFORGE_HTTP_HEADER_TIMEOUT_SECONDS": "120",
    }
    with sibling_uploader(up, "crowded", **settings) as crowded:
        address = ("127.0.0.1", crowded.port)
        before = descriptors(crowded.pid)
        with stalled_crowd(address, 300) as crowd:
            time.sleep(0.5)
            held = descriptors(crowded.pid) - before
            shed = crowd.count_closed()
            headers = {**AUTH, "Content-Type": "video/mp4"}
            with httpx.Client(base_url=crowded.base, timeout=60) as client:
                created = client.post("/v1/uploads", content=clip.read_bytes(), headers=headers)
            shed_by_upload = crowd.count_closed() - shed
    assert created.status_code == 201, created.text
    assert shed == 200 and held <= 100, (shed, held)
    assert shed_by_upload >= 1  # the upload's connection took the place of the oldest


def descriptors(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_an_oversized_head_is_431(up: Uploader) -> None:
    address = ("127.0.0.1", up.port)
    big = b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    many = b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n"
    many += b"".join(b"X-%d: 1\r\n" % i for i in range(100)) + b"\r\n"
    endless = b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * 40_000
    for request in (big, many, endless):
        answer = raw_exchange(address, request)
        assert status_of(answer) == 431 and b'"headers_too_large"' in answer, answer[:200]
    # A head within the caps is served as usual.
    assert httpx.get(f"{up.base}/v1/jobs", headers=AUTH, timeout=10).status_code == 200


def test_at_the_cap_with_every_connection_serving_a_request_a_new_one_is_503(
    up: Uploader, clip: Path
) -> None:
    """Only connections waiting for headers are shed: uploads in progress never are."""
    with sibling_uploader(up, "full", HLSFORGE_HTTP_MAX_CONNECTIONS="8") as full:
        address = ("127.0.0.1", full.port)
        head = "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n"
        head += f"Authorization: {AUTH['Authorization']}\r\nContent-Type: video/mp4\r\n\r\n"
        uploads = [socket.create_connection(address, timeout=10) for _ in range(8)]
        try:
            for sock in uploads:
                sock.sendall(head.encode() + clip.read_bytes()[:65536])  # serving: mid-body
            time.sleep(0.5)
            answer = raw_exchange(address, b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(answer) == 503 and b'"overloaded"' in answer, answer
        finally:
            for sock in uploads:
                sock.close()
        # The uploads' connections closed, the next request is served.
        wait_for("a free slot", lambda: httpx.get(f"{full.base}/readyz").status_code == 200, 10)
