"""A way to kill the uploader at a chosen step without a hook in its code: its Kubernetes API
connection goes through a TCP relay the test can freeze.

Not a test module (it holds no tests). The relay copies bytes both ways between the uploader
and the real API server (TLS passes through untouched); once ``freeze`` is called it stops
copying, so the uploader's next API call (creating the TranscodeJob) hangs right there, with
everything before it (the body stored, ffprobe, the reservation) done. The test then kills the
uploader with SIGKILL: exactly the crash between "stored" and "job created".
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import yaml


class FreezableRelay:
    """127.0.0.1:<port> -> ``target``; stopped by the context manager that made it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = threading.Event()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def freeze(self) -> None:
        self.frozen.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=10)
            server.settimeout(None)
            self._sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                while self.frozen.is_set() and not self._closed.is_set():
                    time.sleep(0.05)  # held: the bytes never reach the other side
                if self._closed.is_set():
                    return
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(5)


@contextlib.contextmanager
def relayed_kubeconfig(kubeconfig: Path, into: Path) -> Iterator[tuple[Path, FreezableRelay]]:
    """A copy of ``kubeconfig`` whose API server is reached through a ``FreezableRelay``."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    url = urlsplit(cluster["server"])
    assert url.hostname is not None and url.port is not None
    relay = FreezableRelay((url.hostname, url.port))
    try:
        cluster["server"] = f"https://{url.hostname}:{relay.port}"
        into.write_text(yaml.safe_dump(config))
        yield into, relay
    finally:
        relay.close()
