"""The publisher on real parts: versitygw, real ffmpeg, the engine and the publisher as two
processes talking over a unix socket.

What must hold: the engine, started with no S3 setting and no key at all, commits a verified
output through the publisher (once: a second run finds it); no process on the engine's side
ever has a key in its environment while the publisher's has; the publisher refuses any other
source or output, a folder outside its scratch, and an output that holds a symbolic link (read
as the publisher, a link could upload its own environment).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hlsforge_api.errors import StorageError, UsageError, VerifyFailed
from hlsforge_api.pod import SOCKET_ENV
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import S3Objects
from hlsforge_storage.s3_commit import COMMIT, verify_committed
from hlsforge_transcoder.broker_client import RemoteBroker
from hlsforge_transcoder.broker_wire import ErrorReply, parse_reply, recv_frame
from hlsforge_transcoder.dispatch import run_job
from tests.media.conftest import Clips, decode_errors
from tests.s3server import S3Server

pytestmark = pytest.mark.media

SETTINGS = EncodingSettings.model_validate(
    {"renditions": [{"name": "180p", "height": 180, "videoBitrateKbps": 300}]}
)
SOURCE = S3Uri("media", "uploads/pub.mp4")
OUTPUT = S3Uri("media", "hls/pub")
"""The refusal test's grant; the commit test's own are named after its access mode."""
Start = Callable[..., tuple[subprocess.Popen[bytes], Path]]


@pytest.fixture
def objects(s3_server: S3Server) -> S3Objects:
    s3_server.bucket("media")
    return s3_server.objects()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


@pytest.fixture
def start_publisher(s3_server: S3Server, scratch: Path, tmp_path: Path) -> Iterator[Start]:
    """Start a publisher with the server's keys in its environment; stopped (SIGTERM) after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        *,
        source: S3Uri = SOURCE,
        output: S3Uri = OUTPUT,
        access: str = "stream",
        addressing: str = "path",
    ) -> tuple[subprocess.Popen[bytes], Path]:
        path = scratch / "publisher" / "publisher.sock"
        env = {"PATH": os.environ["PATH"], **s3_server.env, "HLSFORGE_S3_SOURCE_ACCESS": access,
               "HLSFORGE_S3_ADDRESSING": addressing}  # fmt: skip
        argv = [sys.executable, "-m", "hlsforge_transcoder.publisher", "--socket", str(path),
                "--scratch", str(scratch), "--source", str(source),
                "--output", str(output)]  # fmt: skip
        with (tmp_path / "publisher.log").open("ab") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        started.append(proc)
        deadline = time.monotonic() + 30
        while not path.exists():
            assert proc.poll() is None, (tmp_path / "publisher.log").read_text()
            assert time.monotonic() < deadline, "the publisher did not listen"
            time.sleep(0.1)
        return proc, path

    yield start
    for proc in started:
        proc.terminate()
        assert proc.wait(timeout=20) == 0  # SIGTERM is the sidecar's normal end


def environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def family(pid: int) -> list[int]:
    """``pid`` and all its descendants (ffmpeg, ffprobe)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return found


@pytest.mark.parametrize("access", ["stream", "download"])
def test_an_engine_without_keys_commits_through_the_publisher(
    objects: S3Objects,
    s3_server: S3Server,
    start_publisher: Start,
    scratch: Path,
    clips: Clips,
    tmp_path: Path,
    access: str,
) -> None:
    source = S3Uri("media", f"uploads/pub-{access}.mp4")
    output = S3Uri("media", f"hls/pub-{access}")
    assert objects.put(source, clips("fits_360p.mp4"))
    publisher, path = start_publisher(source=source, output=output, access=access)
    # The engine's whole environment: no AWS_*, no HLSFORGE_S3_*, only the socket.
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(scratch), "HOME": str(scratch),
           SOCKET_ENV: str(path)}  # fmt: skip
    argv = [sys.executable, "-m", "hlsforge_transcoder", "--settings-json",
            SETTINGS.model_dump_json(by_alias=True), str(source), str(output)]  # fmt: skip
    engine = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: dict[int, dict[str, str]] = {}

    def watch() -> None:  # every process on the engine's side, while it runs
        while engine.poll() is None:
            for pid in family(engine.pid):
                seen.setdefault(pid, environ(pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out, err = engine.communicate(timeout=240)
    watcher.join()
    assert engine.returncode == 0, err.decode()
    final = json.loads(out.decode().splitlines()[-1])
    assert final["event"] == "done" and final["committed"] is True
    found = verify_committed(objects, output)
    assert found is not None and final["outputs"]["masterPlaylist"] == f"{found[0]}/master.m3u8"
    assert s3_server.secret_key not in out.decode() + err.decode()

    assert len(seen) >= 2, seen  # the engine and at least one ffprobe/ffmpeg child
    for pid, variables in seen.items():
        assert not [k for k in variables if k.startswith(("AWS_", "HLSFORGE_S3_"))], pid
        assert s3_server.secret_key not in "\0".join(variables.values())
    # Control: the publisher's environment is where the key is.
    assert environ(publisher.pid)["AWS_SECRET_ACCESS_KEY"] == s3_server.secret_key

    local = tmp_path / "played"
    for rel in [*found[1]["files"], "manifest.json"]:
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(objects.read(found[0].child(rel)))
    assert decode_errors(local / "master.m3u8", "0:v:0") == ""

    again = run_job(str(source), str(output), SETTINGS, broker=RemoteBroker(path))
    assert not again.committed and str(again.dest) == str(found[0])
    assert list(scratch.iterdir()) == [path.parent]  # the engine's scratch folders are gone


def test_the_publisher_refuses_other_locations_and_unsafe_folders(
    objects: S3Objects, start_publisher: Start, scratch: Path, clips: Clips, tmp_path: Path
) -> None:
    _, path = start_publisher()
    broker = RemoteBroker(path, connect_seconds=5)
    others: list[Callable[[], object]] = [
        lambda: broker.source_input(S3Uri("media", "uploads/other.mp4"), scratch),
        lambda: broker.committed(S3Uri("media", "hls/other")),
        lambda: broker.sweep(S3Uri("media", "hls"), 0),
        lambda: broker.publish(scratch, S3Uri("media", "hls/pub/v1")),
        lambda: broker.publish(tmp_path / "elsewhere", OUTPUT),  # outside the scratch
        lambda: broker.publish(scratch / ".." / "scratch" / "x", OUTPUT),
        lambda: broker.source_input(SOURCE, tmp_path),  # a download folder outside
    ]
    for attempt in others:
        with pytest.raises(UsageError) as refused:
            attempt()
        assert refused.value.reason == "Refused", refused.value.message

    # A finished output with a link in it (to a file the publisher could read) is refused
    # before anything is uploaded; so is a folder reached through a link.
    run_job(str(clips("fits_360p.mp4")), str(scratch / "out"), SETTINGS)
    secret = tmp_path / "secret"
    secret.write_text("AWS_SECRET_ACCESS_KEY=not-yours\n")
    (scratch / "out" / "180p" / "extra.ts").symlink_to(secret)
    with pytest.raises(VerifyFailed) as unsafe:
        broker.publish(scratch / "out", OUTPUT)
    assert unsafe.value.reason == "UnsafeOutput"
    (scratch / "out" / "180p" / "extra.ts").unlink()
    (scratch / "linked").symlink_to(scratch / "out")
    with pytest.raises(UsageError):
        broker.publish(scratch / "linked", OUTPUT)
    (scratch / "out" / "stray.bin").write_bytes(b"not in the manifest")
    with pytest.raises(VerifyFailed) as stray:
        broker.publish(scratch / "out", OUTPUT)
    assert stray.value.reason == "FilesMismatch"
    assert list(objects.listing(OUTPUT)) == []

    # The granted source, missing: today's retryable error, through the socket.
    (scratch / "job").mkdir()
    with pytest.raises(StorageError) as missing:
        broker.source_input(SOURCE, scratch / "job")
    assert missing.value.reason == "SourceMissing" and missing.value.exit_code == 4

    # A request that is not one: an error reply, and the publisher still serves.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(path))
        conn.sendall(b"\x00\x00\x00\x05hello")
        reply = parse_reply(recv_frame(conn, 1 << 20))
    assert isinstance(reply, ErrorReply) and reply.reason == "Refused"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(path))
        conn.sendall(b"\xff\xff\xff\xff")  # 4 GiB announced: refused before any allocation
        reply = parse_reply(recv_frame(conn, 1 << 20))
    assert isinstance(reply, ErrorReply) and "exceeds" in reply.message
    assert broker.committed(OUTPUT) is None
    assert objects.size(OUTPUT.child(COMMIT)) is None


def test_a_misconfigured_publisher_fails_the_engine_with_its_usage_error(
    objects: S3Objects, start_publisher: Start, scratch: Path
) -> None:
    """It still serves (a crash-looping sidecar would hold the pod until the Job's deadline):
    every request gets the configuration error, so the engine exits 2 and the Job fails."""
    _, path = start_publisher(addressing="sideways")
    with pytest.raises(UsageError) as bad:
        run_job(str(SOURCE), str(OUTPUT), SETTINGS, broker=RemoteBroker(path))
    assert bad.value.reason == "S3ConfigInvalid" and bad.value.exit_code == 2
