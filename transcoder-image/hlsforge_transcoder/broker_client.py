"""The engine's side of the publisher: a ``StorageBroker`` that asks over a unix socket.

Used when ``HLSFORGE_PUBLISHER_SOCKET`` is set (the transcoder pod in S3 mode): this process
then holds no S3 setting and no credential. One connection per request; a publisher that does
not answer is a retryable ``StorageError('PublisherUnavailable')``, and the publisher's own
errors come back with their exit codes.

The scratch folder is made group-accessible (the publisher runs as another uid in the pod's
``fsGroup``): it downloads the source into it and reads the finished output from it.
"""

from __future__ import annotations

import socket
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

from hlsforge_api.errors import StorageError
from hlsforge_media.media_input import MediaInput, http_input, local_input
from hlsforge_storage.locations import S3Uri
from hlsforge_transcoder.broker import Published, private_scratch
from hlsforge_transcoder.broker_wire import (
    MAX_REPLY_BYTES,
    CommittedRequest,
    ErrorReply,
    OutputReply,
    ProtocolError,
    PublishRequest,
    Reply,
    SourceReply,
    SourceRequest,
    SweepRequest,
    SweptReply,
    frame,
    parse_reply,
    recv_frame,
)

SHORT_SECONDS = 300.0
"""Lookups and sweeps; a download or a publish may take as long as the Job's deadline."""
LONG_SECONDS = 24 * 3600.0
_R = TypeVar("_R", SourceReply, OutputReply, SweptReply)


def _unavailable(exc: Exception) -> StorageError:
    return StorageError("PublisherUnavailable", f"the publisher did not answer: {exc}")


class RemoteBroker:
    def __init__(self, path: Path, *, connect_seconds: float = 60.0) -> None:
        self.path = path
        self.connect_seconds = connect_seconds
        """How long to wait for the socket (the sidecar starting, or restarting)."""

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.connect_seconds
        while True:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(str(self.path))
            except OSError as exc:
                conn.close()
                if time.monotonic() > deadline:
                    raise _unavailable(exc) from None
                time.sleep(0.5)
                continue
            return conn

    def _ask(
        self,
        request: SourceRequest | CommittedRequest | SweepRequest | PublishRequest,
        expected: type[_R],
        seconds: float,
    ) -> _R:
        with self._connect() as conn:
            try:
                conn.settimeout(seconds)
                conn.sendall(frame(request))
                reply: Reply = parse_reply(recv_frame(conn, MAX_REPLY_BYTES))
            except (OSError, ProtocolError) as exc:
                raise _unavailable(exc) from None
        if isinstance(reply, ErrorReply):
            raise reply.error()
        if not isinstance(reply, expected):
            raise _unavailable(ProtocolError(f"a {reply.kind!r} reply to {request.op!r}"))
        return reply

    def scratch(self) -> AbstractContextManager[Path]:
        return private_scratch(0o770)

    def source_input(self, uri: S3Uri, scratch: Path) -> MediaInput:
        reply = self._ask(SourceRequest(source=str(uri), folder=str(scratch)), SourceReply,
                          LONG_SECONDS)  # fmt: skip
        if reply.url is not None:
            head = reply.head()
            return http_input(reply.url, str(uri), lambda: head)
        if reply.path is None or Path(reply.path).parent != scratch:
            raise _unavailable(ProtocolError("a source reply with neither URL nor our path"))
        return local_input(Path(reply.path))

    def committed(self, output: S3Uri) -> Published | None:
        reply = self._ask(CommittedRequest(output=str(output)), OutputReply, SHORT_SECONDS)
        return Published(reply.root, reply.manifest, False) if reply.found else None

    def sweep(self, output: S3Uri, max_age_s: float) -> list[str]:
        request = SweepRequest(output=str(output), max_age_seconds=max_age_s)
        return self._ask(request, SweptReply, SHORT_SECONDS).versions

    def publish(self, local: Path, output: S3Uri) -> Published:
        request = PublishRequest(folder=str(local.absolute()), output=str(output))
        reply = self._ask(request, OutputReply, LONG_SECONDS)
        return Published(reply.root, reply.manifest, reply.committed)
