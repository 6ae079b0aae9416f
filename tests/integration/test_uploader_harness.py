"""What the uploader's tests share: the uploader as a real process, clips, raw HTTP.

Not a test module (it holds no tests); named ``test_uploader_*`` to sit with the tests that
use it. The uploader runs as ``python -m hlsforge_uploader`` bound to 127.0.0.1 on a free
port, against the real cluster, and is always stopped by the fixture that started it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.integration.conftest import KubeCluster
from tests.integration.harness import ARTIFACTS, free_port, make_clip, wait_for

__all__ = ["ARTIFACTS", "free_port", "make_clip", "wait_for"]
TOKEN = "it-token-7f3a9c1e5b"  # noqa: S105 - a test-only token given to the test uploader
T = TypeVar("T")


def pad_mp4(clip: Path, out: Path, total_bytes: int) -> Path:
    """``clip`` followed by a top-level ``free`` box up to ``total_bytes``: still a valid MP4
    (the demuxer stops once it has moov and mdat), so a big upload passes ffprobe."""
    data = clip.read_bytes()
    pad = total_bytes - len(data) - 16
    assert pad > 0
    with out.open("wb") as f:
        f.write(data)
        f.write(struct.pack(">I4sQ", 1, b"free", 16 + pad))
        block = b"\0" * (1 << 20)
        while pad > 0:
            f.write(block[: min(pad, len(block))])
            pad -= min(pad, len(block))
    return out


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Uploader:
    """``python -m hlsforge_uploader`` on 127.0.0.1; ``stop`` is always called by its fixture."""

    cluster: KubeCluster
    namespace: str
    media_root: Path
    log_path: Path
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Uploader:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "HLSFORGE_NAMESPACE": self.namespace,
            "HLSFORGE_MEDIA_ROOT": str(self.media_root),
            "HLSFORGE_TOKENS": TOKEN,
            "HLSFORGE_HOST": "127.0.0.1",
            "HLSFORGE_PORT": str(self.port),
            "HLSFORGE_LOG_LEVEL": "warning",
            **self.settings,
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hlsforge_uploader"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for("the uploader to be ready", self._ready, timeout=30)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the uploader exited {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def metric(self, name: str) -> float:
        """The value of one sample line (``name{labels}`` exactly), 0 if absent."""
        text = httpx.get(f"{self.base}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def raw_request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with the path sent exactly as given (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@dataclass
class StreamResult:
    status: int
    body: dict[str, Any]
    sent: int
    """Body bytes written to the socket before the answer arrived."""


def stream_until_answer(
    port: int,
    path: str,
    headers: dict[str, str],
    chunks: Callable[[], bytes | None],
    pause: Callable[[int], None] | None = None,
) -> StreamResult:
    """Send a chunked body chunk by chunk and stop as soon as the server answers: shows
    *when* the server decided (a 413 must come before the client has sent everything)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode())
        sent = 0
        sock.setblocking(False)
        answer = b""
        while True:
            try:
                answer += sock.recv(65536)
                if b"\r\n\r\n" in answer:
                    break
            except BlockingIOError:
                pass
            chunk = chunks()
            if chunk is None:
                sock.setblocking(True)
                sock.sendall(b"0\r\n\r\n")
                break
            try:
                sock.setblocking(True)
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sock.setblocking(False)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if pause is not None:
                pause(sent)
        sock.setblocking(True)
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        head_text, _, rest = answer.partition(b"\r\n\r\n")
        status = int(head_text.split(b" ", 2)[1])
        length = 0
        for line in head_text.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            more = sock.recv(65536)
            if not more:
                break
            rest += more
        return StreamResult(status, json.loads(rest[:length] or b"{}"), sent)
    finally:
        sock.close()


class PausedUpload:
    """A chunked POST (64 KiB chunks, in a thread) that stops halfway until ``resume``: a
    request truly in flight, held at a point the test controls. ``start`` returns once half
    the body is sent; ``resume`` lets the rest go and returns the answer (or raises what the
    sender met, e.g. the connection reset of a killed server)."""

    def __init__(self, port: int, path: str, headers: dict[str, str], data: bytes) -> None:
        self.port, self.path, self.headers, self.data = port, path, headers, data
        self.halfway = threading.Event()
        self._proceed = threading.Event()
        self._position = 0
        self._result: StreamResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, daemon=True)

    def _chunk(self) -> bytes | None:
        if self._position >= len(self.data):
            return None
        piece = self.data[self._position : self._position + 64 * 1024]
        self._position += len(piece)
        return piece

    def _pause(self, sent: int) -> None:
        if sent >= len(self.data) // 2 and not self.halfway.is_set():
            self.halfway.set()
            self._proceed.wait(60)

    def _send(self) -> None:
        try:
            self._result = stream_until_answer(
                self.port, self.path, self.headers, self._chunk, self._pause
            )
        except BaseException as exc:  # handed to the test by resume()
            self._error = exc

    def start(self) -> PausedUpload:
        self._thread.start()
        assert self.halfway.wait(30), "the upload never got halfway"
        return self

    def release(self) -> None:
        """Let the rest of the body go without waiting for the answer."""
        self._proceed.set()

    def resume(self, timeout: float = 60) -> StreamResult:
        self._proceed.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the upload did not end"
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result
