"""The volume commit protocol: an attempt writes into a work folder of its own, and one
``rename`` of that folder publishes it.

``rename`` onto an existing non-empty directory fails, so the first attempt to commit wins and
nothing ever modifies or deletes a committed output: a retried or duplicated run that finds a
verified output at the destination reports it, and removes only its own work folder. The S3
protocol (a commit record) is its twin in ``s3_commit``.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import time
from pathlib import Path
from typing import Any

from hlsforge_api.errors import StorageError, VerifyFailed
from hlsforge_output.verify import verify_dir


def existing_output(dest: Path) -> dict[str, Any] | None:
    """The manifest of a verified output at ``dest``; None if absent or an empty directory."""
    if not dest.exists():
        return None
    if dest.is_dir() and not any(dest.iterdir()):
        return None
    try:
        return verify_dir(dest)
    except VerifyFailed as exc:
        raise StorageError(
            "DestinationOccupied",
            f"{dest} exists and is not a verified output ({exc.reason}); it is never overwritten",
        ) from None


def _newest_mtime(root: Path) -> float:
    newest = root.stat().st_mtime
    for directory, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                newest = max(newest, (Path(directory) / name).stat().st_mtime)
    return newest


def sweep_stale_attempts(dest: Path, max_age_s: float, now: float | None = None) -> list[Path]:
    """Remove ``DEST.tmp-*`` work directories nothing has written to for ``max_age_s``.

    Only an attempt killed outright (SIGKILL, OOM, node loss) leaves one behind; a live attempt
    writes segments every few seconds and its watchdog kills a stalled ffmpeg within
    ``stall_timeout_s``, so an old one is certainly dead. Never touches ``dest`` itself.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    for candidate in dest.parent.glob(f"{glob.escape(dest.name)}.tmp-*"):
        try:
            if candidate.is_dir() and now - _newest_mtime(candidate) > max_age_s:
                shutil.rmtree(candidate)
                removed.append(candidate)
        except OSError:
            continue
    return removed


def fsync_tree(root: Path) -> None:
    for directory, _dirs, names in os.walk(root):
        for name in [*names, "."]:
            fd = os.open(Path(directory) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def commit(tmp: Path, dest: Path) -> bool:
    """Move ``tmp`` to ``dest`` atomically. False if a verified output was there first."""
    try:
        tmp.rename(dest)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and existing_output(dest) is not None:
            return False
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # a new directory entry found no block
            raise StorageError(
                "NoSpace", f"cannot move the output to {dest}: the volume is full ({exc})",
                transient=True,
            ) from None  # fmt: skip
        raise StorageError("CommitFailed", f"cannot move the output to {dest}: {exc}") from None
    with contextlib.suppress(OSError):
        fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return True
