"""Closing a followed log whose pod is silent returns at once (``k8s.LogStream.close``).

A real HTTP answer from a local socket: the headers and one line, then nothing, as a paused
or hashing transcoder sends. A thread reads it (as the operator's log pool does); the close,
which the operator makes on its event loop when the follower is cancelled, must not wait
for the pod's next byte."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3

from hlsforge_operator.k8s import LogStream


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Answers one request with a chunked body holding one line, then stays silent."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n6\r\nhello\n\r\n"
            )
            done.wait(30)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/log"
    done.set()
    thread.join(5)
    listener.close()


def test_close_does_not_wait_for_a_silent_pod(silent_server: str) -> None:
    response = urllib3.PoolManager().request("GET", silent_server, preload_content=False)
    stream = LogStream(response)
    lines: list[str] = []
    first = threading.Event()

    def read() -> None:
        try:
            for line in stream.lines():
                lines.append(line)
                first.set()
        except Exception:  # the broken stream is how a closed one may end
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first.wait(5), "the first line never arrived"
    time.sleep(0.3)  # the reader is now blocked on the silent socket

    closer = threading.Thread(target=stream.close, daemon=True)
    started = time.monotonic()
    closer.start()
    closer.join(5)
    assert not closer.is_alive(), "close() waited for the silent stream"
    assert time.monotonic() - started < 2
    reader.join(5)
    assert not reader.is_alive(), "the reading thread was not freed"
    assert lines == ["hello"]
