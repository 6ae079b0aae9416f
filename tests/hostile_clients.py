"""Clients that misbehave on the wire, for the uploader's limit tests (a local process, or the
chart's pods through their Service): a slowloris head, a crowd of stalled connections, a raw
request whose answer is read to the end.

Plain sockets on purpose: HTTP client libraries send a whole head at once and retry.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

Address = tuple[str, int]

PARTIAL_HEAD = b"POST /v1/uploads HTTP/1.1\r\nHost: uploader\r\nX-Stalled: "
"""The start of a request head that never ends."""


def status_of(answer: bytes) -> int | None:
    """The status code of a raw HTTP answer, or None if there is none."""
    parts = answer.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
        return int(parts[1])
    return None


def raw_exchange(address: Address, request: bytes, timeout: float = 30.0) -> bytes:
    """Send ``request`` as given and read the answer until the server closes or a full
    response has arrived (a JSON or text answer with a Content-Length)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return answer
            if not data:
                return answer
            answer += data
            if response_complete(answer):
                return answer


def response_complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response with a Content-Length."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


@dataclass
class Slowloris:
    """What happened to a head sent one byte at a time."""

    sent: int
    """Bytes of the head sent before the server closed (or the client gave up)."""
    closed_after: float | None
    """Seconds from connecting until the server closed; None if it never did."""
    answer: bytes


def slowloris(address: Address, head: bytes, every: float, give_up: float) -> Slowloris:
    """Connect and send ``head`` one byte every ``every`` seconds, watching for the server to
    answer or close; stop after ``give_up`` seconds (or when the head is all sent)."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=10) as sock:
        sent = 0
        answer = b""
        while time.monotonic() - started < give_up and sent < len(head):
            try:
                sock.sendall(head[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return Slowloris(sent, time.monotonic() - started, answer)
            sent += 1
            sock.settimeout(every)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return Slowloris(sent, time.monotonic() - started, answer)
            answer += data
            if not data or response_complete(answer):
                return Slowloris(sent, time.monotonic() - started, answer)
        return Slowloris(sent, None, answer)


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed (or answered) this stalled connection."""
    sock.settimeout(0)  # a socket with a timeout waits for it before recv, flags or not
    try:
        sock.recv(4096)  # b"" (EOF) or an answer: either way, done
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


@dataclass
class StalledCrowd:
    """``size`` connections that each send ``PARTIAL_HEAD`` and stall; ``closed`` counts those
    the server has closed (or answered) at the last ``count_closed``."""

    address: Address
    size: int
    socks: list[socket.socket] = field(default_factory=list)

    def open(self) -> StalledCrowd:
        for _ in range(self.size):
            sock = socket.create_connection(self.address, timeout=10)
            self.socks.append(sock)
            with contextlib.suppress(OSError):  # shed at once: counted as closed
                sock.sendall(PARTIAL_HEAD)
        return self

    def count_closed(self) -> int:
        return sum(1 for sock in self.socks if _closed(sock))

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


@contextlib.contextmanager
def stalled_crowd(address: Address, size: int) -> Iterator[StalledCrowd]:
    """The crowd, open for the ``with`` block; every connection closed on exit."""
    crowd = StalledCrowd(address, size)
    try:
        yield crowd.open()
    finally:
        crowd.close()
