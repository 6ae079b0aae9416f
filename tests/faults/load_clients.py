"""Row 10.1's clients: a crowd of raw uploads started at once (some slow, some cut off
midway), and the uploader's resident memory sampled while they run.

Plain sockets, as in ``tests/hostile_clients.py``: an HTTP client library would not let a body
trickle at a set rate or stop half-way and close.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.hostile_clients import Address, response_complete, status_of

CHUNK = 16 * 1024


@dataclass(frozen=True)
class Client:
    """One upload: ``rate`` bytes per second (None: as fast as the socket takes them), and
    ``cut_at`` bytes after which the client closes without sending the rest (None: all)."""

    kind: str
    """``fast``, ``slow`` or ``cut``."""
    rate: float | None = None
    cut_at: int | None = None


@dataclass
class Outcome:
    client: Client
    status: int | None
    body: dict[str, Any]
    seconds: float


def _pace(sock: socket.socket, body: bytes, client: Client) -> bool:
    """Send ``body`` (or its first ``cut_at`` bytes) at the client's rate; False if cut."""
    end = len(body) if client.cut_at is None else client.cut_at
    started = time.monotonic()
    sent = 0
    while sent < end:
        chunk = body[sent : min(sent + CHUNK, end)]
        sock.sendall(chunk)
        sent += len(chunk)
        if client.rate is not None:
            time.sleep(max(0.0, started + sent / client.rate - time.monotonic()))
    return client.cut_at is None


def upload(
    address: Address, token: str, body: bytes, client: Client, go: threading.Event
) -> Outcome:
    """Connect, wait for ``go`` (every client starts together), send the upload and read the
    answer. A cut client closes its socket after ``cut_at`` bytes and has no answer."""
    head = (
        f"POST /v1/uploads HTTP/1.1\r\nHost: uploader\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: video/mp4\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(address, timeout=120) as sock:
        go.wait()
        started = time.monotonic()
        sock.sendall(head)
        if not _pace(sock, body, client):
            return Outcome(client, None, {}, time.monotonic() - started)
        answer = b""
        while not response_complete(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    text = answer.partition(b"\r\n\r\n")[2]
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        parsed = {"raw": text[:200].decode(errors="replace")}
    return Outcome(client, status_of(answer), parsed, time.monotonic() - started)


def crowd(address: Address, token: str, body: bytes, clients: list[Client]) -> list[Outcome]:
    """Every client connected first, then all sending at once; their outcomes in order."""
    go = threading.Event()
    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [pool.submit(upload, address, token, body, c, go) for c in clients]
        time.sleep(1.0)  # every thread has connected (or is about to) and waits for go
        go.set()
        return [f.result(timeout=600) for f in futures]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class RssSampler:
    """VmRSS of ``pid`` every ``every`` seconds while running (a daemon thread)."""

    pid: int
    every: float = 0.1
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_kib(self.pid))
            time.sleep(self.every)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def peak(self) -> int:
        return max(self.samples)
