"""A finished output, read the same way from a directory or from an S3 prefix.

Verification only needs three things: every file with its size, the text of a few small files
(manifest, playlists) and each file's SHA-256. A directory hashes its files; S3 answers with the
SHA-256 it checked itself when the object was uploaded (``x-amz-checksum-sha256``), so a
read-back never downloads the segments.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects

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


class LocalTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = str(root)

    def sizes(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for directory, _dirs, names in os.walk(self.root):
            for entry in names:
                path = Path(directory) / entry
                found[path.relative_to(self.root).as_posix()] = path.stat().st_size
        return found

    def read_text(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def sha256(self, rel: str) -> str | None:
        return sha256_file(self.root / rel)


class S3Tree:
    def __init__(self, objects: S3Objects, root: S3Uri) -> None:
        self.objects = objects
        self.root = root
        self.name = str(root)
        self._sizes: dict[str, int] | None = None
        self._sums: dict[str, str | None] = {}

    def sizes(self) -> dict[str, int]:
        if self._sizes is None:
            try:
                listed = {o.key: o.size for o in self.objects.listing(self.root)}
            except ObjectStoreError as exc:
                raise TreeError(str(exc)) from None
            cut = len(self.root.prefix)
            self._sizes = {key[cut:]: size for key, size in listed.items()}
        return self._sizes

    def read_text(self, rel: str) -> str:
        size = self.sizes().get(rel)
        if size is None:
            raise FileNotFoundError(f"{self.root.child(rel)} does not exist")
        if size > MAX_TEXT:
            raise TreeError(f"{rel} is {size} bytes, too large to be a playlist or manifest")
        try:
            return self.objects.read(self.root.child(rel)).decode("utf-8")
        except ObjectStoreError as exc:
            raise TreeError(str(exc)) from None

    def sha256(self, rel: str) -> str | None:
        if not self._sums:
            # One parallel round of HEAD requests for the whole tree, on first use.
            names = sorted(self.sizes())
            with ThreadPoolExecutor(max_workers=16) as pool:
                try:
                    found = list(pool.map(lambda n: self.objects.sha256(self.root.child(n)), names))
                except ObjectStoreError as exc:
                    raise TreeError(str(exc)) from None
            self._sums = dict(zip(names, found, strict=True))
        return self._sums.get(rel)
