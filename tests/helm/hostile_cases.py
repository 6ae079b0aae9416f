"""The hostile-client cases of ``test_cluster_hostile``: each a function that abuses the
uploader at ``Target`` and returns the answer it got, with the answer it must get.

A case is one entry of ``CASES``; add one by writing its function and its ``Case`` line. Every
case runs at the same time as the others and as a normal upload, so a case must not depend on
the uploader being idle. Requests are raw bytes on a socket (``tests.hostile_clients``): the
point is what a client that ignores HTTP manners can do.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.hostile_clients import (
    PARTIAL_HEAD,
    Address,
    raw_exchange,
    response_complete,
    slowloris,
    stalled_crowd,
    status_of,
)

HEADER_TIMEOUT = 10.0
"""The chart's default ``uploader.http.headerTimeoutSeconds`` (the suite installs defaults)."""
BODY_WINDOW = 60.0
"""The uploader's default body window (``body_idle_timeout_seconds``)."""
CONCURRENT_UPLOADS = 8
"""The chart's default ``auth.quotas.concurrentUploads``."""


@dataclass(frozen=True)
class Target:
    address: Address
    """The uploader Service's ClusterIP and port (reachable from the node: kube-proxy)."""
    token: str
    clip: Path
    """A short valid MP4."""
    other_token: str
    """A named token of its own for the quota case, so the suite's normal uploads (``token``)
    keep their allowance."""


@dataclass(frozen=True)
class Answer:
    status: int | None
    """None: the connection was closed without an answer."""
    body: bytes = b""
    note: str = ""


@dataclass(frozen=True)
class Case:
    name: str
    status: int | None
    error: str | None
    """The ``error`` code the JSON body must carry (None: not checked)."""
    run: Callable[[Target], Answer]


def request(
    target: Target,
    path: str,
    body: bytes = b"",
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> bytes:
    """A POST head (with ``Content-Length: length``, default ``len(body)``) and ``body``."""
    lines = [f"POST {path} HTTP/1.1", "Host: uploader", f"Content-Length: {length or len(body)}"]
    lines.append(f"Authorization: Bearer {token or target.token}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answer_of(raw: bytes, note: str = "") -> Answer:
    return Answer(status_of(raw), raw.partition(b"\r\n\r\n")[2], note)


def multipart(parts: list[tuple[str, bytes, bool]], boundary: str = "hostile") -> tuple[bytes, str]:
    """A multipart/form-data body of ``(name, value, is_file)`` parts and its content type."""
    out = bytearray()
    for name, value, is_file in parts:
        filename = '; filename="clip.mp4"' if is_file else ""
        disposition = f'Content-Disposition: form-data; name="{name}"{filename}'
        out += f"--{boundary}\r\n{disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def options_upload(options: str) -> Callable[[Target], Answer]:
    def run(target: Target) -> Answer:
        query = urllib.parse.quote(options)
        raw = raw_exchange(
            target.address,
            request(target, f"/v1/uploads?options={query}", target.clip.read_bytes()),
        )
        return answer_of(raw)

    return run


def bad_token(target: Target) -> Answer:
    return answer_of(
        raw_exchange(
            target.address,
            request(target, "/v1/uploads", b"x" * 100, token="not-a-token"),  # noqa: S106 - the wrong one on purpose
        )
    )


def declared_too_large(target: Target) -> Answer:
    """Only the head is sent: the answer must come before any body."""
    head = request(
        target, "/v1/uploads", length=30 * 1024**3, headers={"Content-Type": "video/mp4"}
    )
    return answer_of(raw_exchange(target.address, head))


def many_small_fields(target: Target) -> Answer:
    """100,000 tiny text fields (~10 MB): once OOM-killed the uploader."""
    parts = [(f"f{i}", b"x", False) for i in range(100_000)]
    body, kind = multipart(parts)
    raw = raw_exchange(
        target.address, request(target, "/v1/uploads", body, headers={"Content-Type": kind})
    )
    return answer_of(raw, f"{len(body)} bytes sent")


def oversized_field(target: Target) -> Answer:
    body, kind = multipart(
        [("options", b" " * (1 << 20), False), ("file", target.clip.read_bytes(), True)]
    )
    raw = raw_exchange(
        target.address, request(target, "/v1/uploads", body, headers={"Content-Type": kind})
    )
    return answer_of(raw)


def not_media(prefix: bytes) -> Callable[[Target], Answer]:
    def run(target: Target) -> Answer:
        body = prefix + b"\n" + b"A" * 100_000
        return answer_of(raw_exchange(target.address, request(target, "/v1/uploads", body)))

    return run


def oversized_head(target: Target) -> Answer:
    head = request(target, "/v1/jobs", headers={"X-Big": "a" * 40_000})
    return answer_of(raw_exchange(target.address, head))


def slow_head(target: Target) -> Answer:
    got = slowloris(target.address, PARTIAL_HEAD * 20, every=1.0, give_up=HEADER_TIMEOUT + 20)
    if got.closed_after is None or got.closed_after > HEADER_TIMEOUT + 3:
        return Answer(None, got.answer, f"not closed in time: {got.closed_after}")
    return answer_of(got.answer, f"closed after {got.closed_after:.1f} s")


def slow_body(target: Target) -> Answer:
    """A real start of a body (a few bytes), then nothing: below the rate floor."""
    head = request(target, "/v1/uploads", length=10_000_000, headers={"Content-Type": "video/mp4"})
    started = time.monotonic()
    with socket.create_connection(target.address, timeout=BODY_WINDOW * 2 + 15) as sock:
        sock.sendall(head + target.clip.read_bytes()[:64])
        raw = b""
        while not response_complete(raw):
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    return answer_of(raw, f"answered after {time.monotonic() - started:.0f} s")


def uploads_beyond_the_token_quota(target: Target) -> Answer:
    """``auth.quotas.concurrentUploads`` (8) uploads of one token in flight, then a ninth."""
    head = request(
        target,
        "/v1/uploads",
        token=target.other_token,
        length=10_000_000,
        headers={"Content-Type": "video/mp4"},
    )
    socks = []
    try:
        for _ in range(CONCURRENT_UPLOADS):
            sock = socket.create_connection(target.address, timeout=30)
            socks.append(sock)
            sock.sendall(head + target.clip.read_bytes()[:65536])  # in flight: mid-body
        time.sleep(1)
        raw = raw_exchange(target.address, head)
    finally:
        for sock in socks:
            sock.close()
    retry = next((x for x in raw.split(b"\r\n") if x.lower().startswith(b"retry-after:")), b"")
    return answer_of(raw, retry.decode())


def stalled_crowd_and_upload(target: Target) -> Answer:
    """300 connections that send part of a head and stall; while they are open, an upload."""
    with stalled_crowd(target.address, 300) as crowd:
        raw = raw_exchange(
            target.address,
            request(
                target,
                "/v1/uploads",
                target.clip.read_bytes(),
                headers={"Content-Type": "video/mp4"},
            ),
        )
        closed = crowd.count_closed()
    return answer_of(raw, f"{closed} of the crowd closed meanwhile")


CASES = [
    Case("bad token", 401, "unauthorized", bad_token),
    Case("options that are not JSON", 422, "invalid_options", options_upload("{not json")),
    Case("options beyond a per-job maximum (cpu 64)", 422, "invalid_options",
         options_upload(json.dumps({"resources": {"requests": {"cpu": "64"}}}))),
    Case("priority beyond the HTTP ceiling", 422, "invalid_options",
         options_upload(json.dumps({"priority": 100}))),
    Case("Content-Length beyond max upload bytes", 413, "upload_too_large", declared_too_large),
    Case("multipart of 100,000 small fields", 400, "bad_request", many_small_fields),
    Case("a 1 MiB text field", 413, "upload_too_large", oversized_field),
    Case("a PDF", 422, "invalid_media", not_media(b"%PDF-1.7")),
    Case("an HLS playlist", 422, "invalid_media", not_media(b"#EXTM3U")),
    Case("a 40 KB header", 431, "headers_too_large", oversized_head),
    Case("a head a byte a second", 408, "request_timeout", slow_head),
    Case("a body below the rate floor", 408, "upload_stalled", slow_body),
    Case("an upload among 300 stalled connections", 201, None, stalled_crowd_and_upload),
    Case("a 9th upload in flight for one token", 429, "quota_exceeded",
         uploads_beyond_the_token_quota),
]  # fmt: skip
