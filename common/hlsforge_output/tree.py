"""A finished output, read the same way from a directory or (``hlsforge_storage.s3_tree``) an S3
prefix.

Verification only needs three things: every file with its size, the text of a few small files
(manifest, playlists) and each file's SHA-256. A directory hashes its files; S3 answers with the
SHA-256 it checked itself when the object was uploaded (``x-amz-checksum-sha256``), so a
read-back never downloads the segments.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Protocol

MAX_TEXT = 16 << 20
"""Largest manifest or playlist read into memory."""


class TreeError(OSError):
    """The tree cannot be read (missing file, I/O or S3 failure)."""


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class OutputTree(Protocol):
    name: str
    """How the tree is named in messages (a path or an S3 URI)."""

    def sizes(self) -> dict[str, int]:
        """Every file below the root (relative POSIX path -> bytes)."""
        ...

    def read_text(self, rel: str) -> str:
        """A small UTF-8 file; ``FileNotFoundError`` when absent, ``TreeError`` otherwise."""
        ...

    def sha256(self, rel: str) -> str | None:
        """The file's SHA-256 (hex); None when the store cannot tell."""
        ...


MAX_FILES = 200_000
"""Most files an output tree may hold (a 2-hour ladder of 2 s segments holds ~20,000)."""
MAX_TREE_BYTES = 32 << 30
"""Most bytes an output tree may hold; more is refused before anything is hashed (a 2-hour
1080p ladder is ~10 GB; the operator's ``HLSFORGE_MAX_OUTPUT_BYTES`` raises it)."""
MAX_SECONDS = 1800.0
"""Longest a read of one tree may take (listing and hashing together)."""


def _open_regular(path: Path) -> int:
    """Open ``path`` for reading without following a symlink or blocking on a FIFO, and only
    if it is a regular file (a device, FIFO or socket in an output is an attack)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise TreeError(f"{path} is not a regular file")
    return fd


class LocalTree:
    """An output in a directory. Read defensively: a tree written by a transcoder pod is
    untrusted, so only regular files count (a symlink, FIFO or device is refused, never
    followed or opened), and listing and hashing are bounded in files, bytes and time."""

    def __init__(
        self,
        root: Path,
        *,
        max_files: int = MAX_FILES,
        max_bytes: int = MAX_TREE_BYTES,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        self.root = root
        self.name = str(root)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._deadline = time.monotonic() + max_seconds

    def _in_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise TreeError(f"reading {self.name} took too long")

    def sizes(self) -> dict[str, int]:
        found: dict[str, int] = {}
        total = 0
        if self.root.is_symlink() or not self.root.is_dir():
            raise TreeError(f"{self.name} is not a directory")
        for directory, dirs, names in os.walk(self.root):
            self._in_time()
            for entry in [*names, *dirs]:
                path = Path(directory) / entry
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    raise TreeError(f"{path} is a symbolic link")
                if stat.S_ISDIR(info.st_mode):
                    continue
                if not stat.S_ISREG(info.st_mode):
                    raise TreeError(f"{path} is not a regular file")
                found[path.relative_to(self.root).as_posix()] = info.st_size
                total += info.st_size
                if len(found) > self.max_files:
                    raise TreeError(f"{self.name} holds more than {self.max_files} files")
                if total > self.max_bytes:
                    raise TreeError(f"{self.name} holds more than {self.max_bytes} bytes")
        return found

    def read_text(self, rel: str) -> str:
        try:
            fd = _open_regular(self.root / rel)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise TreeError(f"cannot open {rel}: {exc}") from None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_TEXT + 1)
        if len(data) > MAX_TEXT:
            raise TreeError(f"{rel} is too large to be a playlist or manifest")
        return data.decode("utf-8")

    def sha256(self, rel: str) -> str | None:
        self._in_time()
        try:
            fd = _open_regular(self.root / rel)
        except OSError as exc:
            raise TreeError(f"cannot open {rel}: {exc}") from None
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                self._in_time()
        return digest.hexdigest()
