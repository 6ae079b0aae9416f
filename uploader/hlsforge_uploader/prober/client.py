"""How the uploader gets an upload probed: by the prober container, or in-process.

Both ``Prober`` s end in ``sandbox.probe_source`` (one code path for "run ffprobe
sandboxed"); they differ only in who runs it. ``SocketProber`` (the chart, always) sends the
request to the prober container; ``LocalProber`` (no socket configured: tests, dev) runs the
sandboxed child from this process, which still clears its environment and applies the rlimits,
but runs with this process's uid and mounts.

A local file is never passed by name: it is opened here read-only (``O_NOFOLLOW``) and the
descriptor is what the prober reads.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from hlsforge_api.errors import InvalidInput, StorageError
from hlsforge_media.media_input import MediaInput
from hlsforge_media.probe import ProbeResult, parse
from hlsforge_uploader.prober.protocol import (
    MAX_REPLY_BYTES,
    ProbeRequest,
    ProtocolError,
    frame,
    parse_reply,
    recv_frame,
)
from hlsforge_uploader.prober.sandbox import (
    ProbeOutcome,
    SandboxLimits,
    fd_input,
    probe_source,
    url_input,
)


class Prober(Protocol):
    def probe(self, source: Path | MediaInput) -> ProbeResult:
        """ffprobe ``source`` sandboxed (blocking). Raises ``InvalidInput`` for media the
        engine refuses and ``StorageError`` when the probe cannot be done."""
        ...

    def ready(self) -> bool: ...


def result_of(outcome: ProbeOutcome) -> ProbeResult:
    """The engine's ``ProbeResult`` of an outcome, or its error raised (pure)."""
    if outcome.status == "invalid":
        raise InvalidInput(outcome.reason, outcome.message)
    if outcome.status == "unavailable" or outcome.ffprobe_json is None:
        raise StorageError(outcome.reason or "ProbeFailed", outcome.message or "no probe output")
    try:
        return parse(outcome.ffprobe_json)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput("ProbeFailed", f"unreadable ffprobe output: {exc}") from None


@contextlib.contextmanager
def opened(path: Path) -> Iterator[int]:
    """A read-only descriptor of ``path`` (never following a final symlink), closed after."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise StorageError("SourceUnreadable", f"cannot open the upload: {exc}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _presigned(source: MediaInput) -> str:
    if source.protocols == "file":
        raise StorageError("ProbeFailed", "a local input is probed by descriptor, not by name")
    return source.url


class LocalProber:
    """The sandboxed ffprobe child started from this process (no prober container)."""

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits

    def probe(self, source: Path | MediaInput) -> ProbeResult:
        if isinstance(source, MediaInput):
            media = url_input(_presigned(source), source.name, self.limits)
            return result_of(probe_source(media, self.limits))
        with opened(source) as fd:
            media = fd_input(fd, source.name, self.limits)
            return result_of(probe_source(media, self.limits, (fd,)))

    def ready(self) -> bool:
        return True


class SocketProber:
    """The prober container, over its unix socket; one connection per probe."""

    def __init__(self, path: Path, limits: SandboxLimits) -> None:
        self.path = path
        self.timeout = limits.timeout_seconds * 2 + 10
        """Its deadline, plus a wait for a free slot, plus the request and the answer."""

    def _ask(self, request: ProbeRequest, fds: list[int]) -> ProbeOutcome:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout)
                conn.connect(str(self.path))
                data = frame(request)
                sent = socket.send_fds(conn, [data], fds)
                conn.sendall(data[sent:])
                return parse_reply(recv_frame(conn, MAX_REPLY_BYTES))
        except (OSError, ProtocolError) as exc:
            raise StorageError("ProberUnavailable", f"the prober did not answer: {exc}") from None

    def probe(self, source: Path | MediaInput) -> ProbeResult:
        if isinstance(source, MediaInput):
            request = ProbeRequest(kind="url", name=source.name, url=_presigned(source))
            return result_of(self._ask(request, []))
        with opened(source) as fd:
            return result_of(self._ask(ProbeRequest(kind="fd", name=source.name), [fd]))

    def ready(self) -> bool:
        """The socket accepts connections (the prober container is up)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(1.0)
                conn.connect(str(self.path))
        except OSError:
            return False
        return True


def open_prober(socket_path: Path | None, limits: SandboxLimits) -> LocalProber | SocketProber:
    return LocalProber(limits) if socket_path is None else SocketProber(socket_path, limits)
