"""The publisher: the one process of a transcoder pod that holds S3 credentials.

``python -m hlsforge_transcoder.publisher --socket PATH --scratch DIR [--source s3://...]
[--output s3://...]`` runs as a native sidecar of the transcoder pod, in its own container and
uid, with the ``HLSFORGE_S3_*`` settings and the keys (Secret or IRSA). The engine's container
has neither; it asks here over a unix socket (``broker_wire``), one request per connection, and
this process does it with ``DirectBroker``. Every request is treated as hostile, since a
taken-over ffmpeg runs as the engine's uid and can reach the socket too:

- it acts only for the one source and the one output it was started with (``Grant``); any other
  location is refused (``UsageError('Refused')``, exit 2 on the engine side);
- a download lands only in a folder directly below ``--scratch``, never through a symlink;
- a publish reads only a folder below ``--scratch``: every directory and file is opened
  without following symlinks and only regular files are kept (``pin_folder``); what is uploaded
  is read through those descriptors, so a folder swapped for a link to this process's
  ``/proc/self/environ`` after the check still cannot be read;
- ``--allowed-uid`` refuses connections from any other uid (``SO_PEERCRED``).

It makes itself non-dumpable (no ptrace, no ``/proc/<pid>/environ`` for a same-uid process)
and stops on SIGTERM, which is how Kubernetes ends a sidecar once the engine has exited.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import resource
import signal
import socket
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hlsforge_api.errors import TranscodeError, UsageError, VerifyFailed
from hlsforge_media import unix_socket
from hlsforge_media.unix_socket import non_dumpable, peer_uid
from hlsforge_output.tree import MAX_FILES, MAX_TREE_BYTES
from hlsforge_storage.locations import S3Uri
from hlsforge_transcoder.broker import SOURCE_FILE, DirectBroker, objects_from_env, parse_uri
from hlsforge_transcoder.broker_wire import (
    MAX_REQUEST_BYTES,
    CommittedRequest,
    ErrorReply,
    OutputReply,
    ProtocolError,
    PublishRequest,
    Reply,
    Request,
    SourceReply,
    SourceRequest,
    SweepRequest,
    SweptReply,
    frame,
    parse_request,
    recv_frame,
)

log = logging.getLogger("hlsforge.publisher")
REQUEST_SECONDS = 30.0
"""How long a client may take to send its request (not how long the work may take)."""
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class Grant:
    """What this publisher may do: the locations it was started with, the shared scratch."""

    source: S3Uri | None
    output: S3Uri | None
    scratch: Path


def _refused(message: str) -> UsageError:
    return UsageError("Refused", f"the publisher refuses: {message}")


def below(scratch: Path, folder: str) -> Path:
    """``folder`` as a path strictly below ``scratch`` with no ``..``, or ``Refused`` (pure:
    symlinks are dealt with when opening, component by component)."""
    path = Path(folder)
    if not path.is_absolute() or ".." in path.parts or path == scratch:
        raise _refused(f"{folder!r} is not a folder below {scratch}")
    if not path.is_relative_to(scratch):
        raise _refused(f"{folder!r} is outside {scratch}")
    return path


def check(request: Request, grant: Grant) -> None:
    """Refuse a request naming another location than the grant's (pure)."""
    if isinstance(request, SourceRequest):
        if grant.source is None or parse_uri(request.source, "source") != grant.source:
            raise _refused(f"source {request.source} is not this job's")
        below(grant.scratch, request.folder)
        return
    if grant.output is None or parse_uri(request.output, "output") != grant.output:
        raise _refused(f"output {request.output} is not this job's")
    if isinstance(request, PublishRequest):
        below(grant.scratch, request.folder)


@contextmanager
def open_below(scratch: Path, path: Path) -> Iterator[int]:
    """A descriptor of directory ``path`` below ``scratch``, opened one component at a time
    without following a symlink; ``Refused`` otherwise."""
    fd = os.open(scratch, _DIR_FLAGS)
    try:
        for part in path.relative_to(scratch).parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _refused(f"{path} is not a plain folder ({exc.strerror})") from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def file_limit() -> int:
    """How many files a publish may hold open: the soft limit raised to the hard one."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(0, min(MAX_FILES, soft - 256))


def pin_folder(root: int, max_files: int, max_bytes: int = MAX_TREE_BYTES) -> dict[str, int]:
    """Every regular file below the directory descriptor ``root``, opened (relative name ->
    descriptor; the caller closes them). A symlink, FIFO or device anywhere is refused, and so
    is a tree over ``max_files`` files or ``max_bytes`` bytes."""
    pinned: dict[str, int] = {}
    total = 0
    try:
        for top, dirs, names, dir_fd in os.fwalk(".", dir_fd=root, follow_symlinks=False):
            for name in dirs:  # fwalk lists a link to a directory here and skips it
                if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    raise VerifyFailed("UnsafeOutput", f"{top}/{name} is a symbolic link")
            for name in names:
                rel = (Path(top) / name).as_posix()
                if len(pinned) >= max_files:
                    raise VerifyFailed("OutputTooLarge", f"more than {max_files} files")
                try:
                    fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    raise VerifyFailed("UnsafeOutput", f"{rel}: {exc.strerror}") from None
                pinned[rel] = fd
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    raise VerifyFailed("UnsafeOutput", f"{rel} is not a regular file")
                total += info.st_size
                if total > max_bytes:
                    raise VerifyFailed("OutputTooLarge", f"more than {max_bytes} bytes")
    except BaseException:
        for fd in pinned.values():
            os.close(fd)
        raise
    return pinned


def _fd_path(fd: int) -> Path:
    """A path that opens exactly the file behind ``fd`` (the magic link never re-resolves)."""
    return Path(f"/proc/self/fd/{fd}")


class Publisher:
    def __init__(self, broker: DirectBroker, grant: Grant) -> None:
        self.broker = broker
        self.grant = grant
        self.max_files = file_limit()

    def answer(self, request: Request) -> Reply:
        """Do one request; every ``TranscodeError`` becomes an ``ErrorReply``."""
        try:
            return self._answer(request)
        except TranscodeError as exc:
            return ErrorReply.of(exc)

    def _answer(self, request: Request) -> Reply:
        check(request, self.grant)
        if isinstance(request, SourceRequest):
            return self._source(request)
        output = parse_uri(request.output, "output")
        if isinstance(request, CommittedRequest):
            found = self.broker.committed(output)
            if found is None:
                return OutputReply(found=False)
            return OutputReply(found=True, root=found.root, manifest=found.manifest)
        if isinstance(request, SweepRequest):
            return SweptReply(versions=self.broker.sweep(output, request.max_age_seconds))
        return self._publish(request, output)

    def _source(self, request: SourceRequest) -> SourceReply:
        uri = parse_uri(request.source, "source")
        if self.broker.objects.config.source_access == "stream":
            media = self.broker.source_input(uri, self.grant.scratch)
            head = base64.b64encode(media.read_head()).decode()
            return SourceReply(name=str(uri), url=media.url, head_b64=head)
        folder = below(self.grant.scratch, request.folder)
        with open_below(self.grant.scratch, folder) as fd:
            # Into the folder just opened (the path may be swapped meanwhile, the fd is not).
            if (_fd_path(fd) / SOURCE_FILE).exists():
                raise _refused(f"{folder / SOURCE_FILE} exists already")
            self.broker.source_input(uri, _fd_path(fd))
        return SourceReply(name=str(uri), path=str(folder / SOURCE_FILE))

    def _publish(self, request: PublishRequest, output: S3Uri) -> OutputReply:
        folder = below(self.grant.scratch, request.folder)
        with open_below(self.grant.scratch, folder) as root:
            pinned = pin_folder(root, self.max_files)
        try:
            files = {rel: _fd_path(fd) for rel, fd in pinned.items()}
            done = self.broker.publish_files(files, output)
        finally:
            for fd in pinned.values():
                os.close(fd)
        return OutputReply(found=True, root=done.root, manifest=done.manifest,
                           committed=done.committed)  # fmt: skip


class Broken:
    """A misconfigured publisher still serves, answering every request with its error: the
    engine then exits with that code (a bad setting: 2, not retried) instead of the pod
    waiting for a sidecar that would crash-loop until the Job's deadline."""

    def __init__(self, error: TranscodeError) -> None:
        self.error = error

    def answer(self, _request: Request) -> Reply:
        return ErrorReply.of(self.error)


# -- the socket ------------------------------------------------------------------------------


def handle(conn: socket.socket, publisher: Publisher | Broken, allowed_uid: int | None) -> None:
    """One connection: check the peer, read the request, do it, answer."""
    with conn:
        try:
            if allowed_uid is not None and peer_uid(conn) != allowed_uid:
                log.warning("refused a connection from uid %d", peer_uid(conn))
                return
            conn.settimeout(REQUEST_SECONDS)
            try:
                request = parse_request(recv_frame(conn, MAX_REQUEST_BYTES))
            except ProtocolError as exc:
                conn.sendall(frame(ErrorReply.of(_refused(str(exc)))))
                return
            conn.settimeout(None)
            reply = publisher.answer(request)
            conn.sendall(frame(reply))
            downloaded = isinstance(reply, SourceReply) and reply.path is not None
            log.info("%s: %s", request.op, "downloaded" if downloaded else reply.kind)
        except (OSError, ProtocolError) as exc:
            log.warning("connection failed: %s", exc)


def listen(path: Path) -> socket.socket:
    """Bind ``path`` in a folder of its own (made here: the engine's uid cannot replace the
    socket), then listen."""
    path.parent.mkdir(mode=0o755, exist_ok=True)
    return unix_socket.listen(path, backlog=8)


def serve(
    path: Path, publisher: Publisher | Broken, allowed_uid: int | None, stop: threading.Event
) -> None:
    """Answer one connection at a time until ``stop`` is set (the engine asks in sequence)."""
    server = listen(path)
    server.settimeout(0.5)
    log.info("publisher listening on %s", path)
    try:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            handle(conn, publisher, allowed_uid)
    finally:
        server.close()
        with contextlib.suppress(OSError):
            path.unlink()


def _location(value: str | None, what: str) -> S3Uri | None:
    return None if value is None else parse_uri(value, what)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hlsforge_transcoder.publisher")
    parser.add_argument("--socket", type=Path, required=True, help="unix socket to serve")
    parser.add_argument("--scratch", type=Path, required=True, help="the shared scratch mount")
    parser.add_argument("--source", help="the one s3:// source this publisher may read")
    parser.add_argument("--output", help="the one s3:// output this publisher may publish")
    parser.add_argument("--allowed-uid", type=int, help="the only uid that may connect")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    non_dumpable()
    publisher: Publisher | Broken
    try:
        grant = Grant(_location(args.source, "source"), _location(args.output, "output"),
                      args.scratch.absolute())  # fmt: skip
        publisher = Publisher(DirectBroker(objects_from_env(os.environ)), grant)
    except TranscodeError as exc:
        log.error("misconfigured: %s", exc.message)
        publisher = Broken(exc)
    stop = threading.Event()
    # PID 1 of its container ignores a signal it has no handler for: stop on SIGTERM.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    serve(args.socket, publisher, args.allowed_uid, stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
