"""A full volume is a storage failure, whatever symptom it left behind.

ffmpeg's HLS muxer ignores a failed write (``No space left on device``) and still exits 0,
leaving empty playlists and cut segments; the attempt then fails later with a misleading
reason (a playlist that "does not start with #EXTM3U"). So when an attempt fails while the
filesystem it writes to has less than ``NO_SPACE_BYTES`` left for an unprivileged writer, the
failure is reported as ``StorageError('NoSpace')`` (exit 4, retried) naming the volume, and the
original symptom is kept in the message.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from hlsforge_api.errors import Killed, StorageError, TranscodeError, UsageError

NO_SPACE_BYTES = 1 << 20
"""Below this many free bytes the volume counts as full (a segment is larger)."""
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on ``path``'s filesystem; None if unknown."""
    try:
        info = os.statvfs(path)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


def full(free: int | None) -> bool:
    return free is not None and free < NO_SPACE_BYTES


def no_space(path: Path, free: int | None, symptom: str) -> StorageError:
    return StorageError(
        "NoSpace",
        f"the volume of {path} is full ({free} bytes free); the attempt failed with: {symptom}",
    )


def storage_failure(path: Path, exc: BaseException) -> TranscodeError | None:
    """The failure to report for ``exc`` raised while writing under ``path``: ``NoSpace``
    when the write ran out of space or the volume is full now, ``WriteFailed`` for any other
    ``OSError``; None to re-raise ``exc`` as it is (a kill or a usage error is never
    relabelled, nor is a failure with space left)."""
    free = free_bytes(path)
    if isinstance(exc, OSError):
        if exc.errno in NO_SPACE_ERRNOS or full(free):
            return no_space(path, free, str(exc))
        return StorageError("WriteFailed", f"cannot write the output: {exc}")
    if isinstance(exc, (Killed, UsageError)) or not isinstance(exc, TranscodeError):
        return None
    if full(free):
        return no_space(path, free, f"{exc.reason}: {exc.message}")
    return None
