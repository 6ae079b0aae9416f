"""Length-framed JSON over a unix socket, for the helpers that sit next to untrusted media.

Two processes talk this way: the uploader to its prober (``hlsforge_uploader.prober``), and
the transcoder engine to its publisher sidecar (``publisher``). A frame is a 4-byte big-endian
length and that many bytes of JSON (a pydantic model); the length is checked against a cap
before anything is read or allocated. The servers check the peer's uid (``SO_PEERCRED``), make
themselves non-dumpable (a taken-over client of the same uid cannot read their memory), and
publish their socket only once it accepts.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import stat
import struct
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter

HEADER = struct.Struct(">I")
_UCRED = struct.Struct("3i")
_PR_SET_DUMPABLE = 4


T = TypeVar("T")


class ProtocolError(Exception):
    """A frame that is too large, truncated, or not the model it claims to be."""


def parse(adapter: TypeAdapter[T], body: bytes, what: str) -> T:
    """A frame's body as ``adapter``'s type; ``ProtocolError`` naming ``what`` otherwise."""
    try:
        return adapter.validate_json(body)
    except ValueError as exc:
        raise ProtocolError(f"not a {what}: {exc}") from None


def frame(message: BaseModel) -> bytes:
    body = message.model_dump_json().encode()
    return HEADER.pack(len(body)) + body


def frame_length(header: bytes, limit: int) -> int:
    """The body length a 4-byte header announces; ``ProtocolError`` above ``limit``."""
    if len(header) != HEADER.size:
        raise ProtocolError("truncated frame header")
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes exceeds {limit}")
    return int(length)


def recv_exact(sock: socket.socket, count: int, already: bytes = b"") -> bytes:
    """``count`` bytes, starting with ``already``; ``ProtocolError`` if the peer closes."""
    chunks = [already]
    got = len(already)
    while got < count:
        chunk = sock.recv(min(count - got, 1 << 20))
        if not chunk:
            raise ProtocolError("the peer closed the connection mid-frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, limit: int, already: bytes = b"") -> bytes:
    """One frame's body (``already``: bytes of it read together with a descriptor)."""
    head = recv_exact(sock, HEADER.size, already[: HEADER.size])
    length = frame_length(head, limit)
    return recv_exact(sock, length, already[HEADER.size :])


def peer_uid(conn: socket.socket) -> int:
    _pid, uid, _gid = _UCRED.unpack(
        conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    return int(uid)


def non_dumpable() -> None:
    """No ptrace, no /proc/<pid>/mem or environ for processes of our uid (best effort)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def listen(path: Path, backlog: int) -> socket.socket:
    """Bind ``path`` (replacing a stale socket of an earlier run) and listen. The socket is
    bound under a temporary name and renamed into place, so a client never finds one that
    does not accept yet. It is world-connectable: the folder it lives in is the boundary, the
    server's peer-uid check the gate."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    server.bind(str(tmp))
    tmp.chmod(0o666)
    server.listen(backlog)
    tmp.rename(path)
    return server
