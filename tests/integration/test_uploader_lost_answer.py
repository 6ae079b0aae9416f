"""The API server stores the TranscodeJob, but its answer is lost with the connection: the
upload is a success (201, that one job, the source kept), never "failed, source deleted" —
which would leave a job whose source is gone.

Real uploader process, real API server (through ``kubectl proxy``, so the relay in front of
it sees plain HTTP and cuts exactly the answer to the job's creation), real ffprobe, a real
volume folder.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import KubeCluster
from tests.integration.test_uploader_harness import (
    ARTIFACTS,
    PausedUpload,
    Uploader,
    free_port,
)
from tests.integration.test_uploader_volume_harness import AUTH

pytestmark = pytest.mark.cluster

CREATE = b"POST /apis/hlsforge.io/"


class AnswerCutter:
    """127.0.0.1:<port> -> ``target`` (plain HTTP); the connection that carries the next
    TranscodeJob creation is closed when its answer comes back, the answer unsent."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target), timeout=10)
                server.settimeout(None)
                self._sockets += [client, server]
                creating = threading.Event()
                for src, dst, answers in ((client, server, False), (server, client, True)):
                    args = (src, dst, answers, creating)
                    threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def _pipe(
        self, src: socket.socket, dst: socket.socket, answers: bool, creating: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if not answers and data.startswith(CREATE) and not self.cut.is_set():
                    creating.set()
                if answers and creating.is_set():
                    self.cut.set()
                    for sock in (src, dst):  # the job is stored; its answer is lost
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def cut_kubeconfig(cluster: KubeCluster, into: Path) -> Iterator[tuple[Path, AnswerCutter]]:
    """A kubeconfig whose API server is ``kubectl proxy`` behind an ``AnswerCutter``."""
    port = free_port()
    proxy = subprocess.Popen(
        [
            str(cluster.kubectl_path),
            f"--kubeconfig={cluster.kubeconfig}",
            "proxy",
            "--address=127.0.0.1",
            f"--port={port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cutter: AnswerCutter | None = None
    try:
        assert proxy.stdout is not None
        assert "Starting to serve" in proxy.stdout.readline()
        cutter = AnswerCutter(port)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cut", "cluster": {"server": f"http://127.0.0.1:{cutter.port}"}}],
            "users": [{"name": "cut", "user": {}}],
            "contexts": [{"name": "cut", "context": {"cluster": "cut", "user": "cut"}}],
            "current-context": "cut",
        }
        into.write_text(yaml.safe_dump(config))
        yield into, cutter
    finally:
        if cutter is not None:
            cutter.close()
        proxy.terminate()
        proxy.wait(10)
        if proxy.stdout is not None:
            proxy.stdout.close()


def test_a_lost_answer_to_the_jobs_creation_is_still_the_one_job_with_its_source(
    up: Uploader, clip: Path, tmp_path: Path
) -> None:
    cluster = up.cluster  # ``up``: the CRD is installed
    namespace = cluster.create_namespace("lost")
    media = tmp_path / "media"
    media.mkdir()
    data = clip.read_bytes()
    with cut_kubeconfig(cluster, tmp_path / "cut.kubeconfig") as (config, cutter):
        log = ARTIFACTS / f"uploader-{namespace}.log"
        lossy = Uploader(cluster, namespace, media, log, settings={"KUBECONFIG": str(config)})
        lossy.start()
        try:
            answer = PausedUpload(lossy.port, "/v1/uploads", AUTH, data).start().resume()
        finally:
            lossy.stop()
        assert cutter.cut.is_set(), "no TranscodeJob creation went through the relay"
    jobs = cluster.get_json("tj", "-n", namespace)["items"]
    assert answer.status == 201, (answer.body, [j["metadata"]["name"] for j in jobs])
    assert [j["metadata"]["name"] for j in jobs] == [answer.body["id"]]
    source = media / jobs[0]["spec"]["source"]
    assert source.read_bytes() == data  # kept: the job reads it
