"""Where named tokens come from, read so that a rotated Secret takes effect without a restart.

Three sources, read in this order (the first name of a duplicated token wins):

- ``HLSFORGE_TOKENS``: comma-separated entries ``name=token``; a bare ``token`` (no ``=``, or
  nothing valid before it) is the token named ``default``;
- ``HLSFORGE_TOKEN_FILE``: one token per line, each named ``default`` (the single-token form);
- ``HLSFORGE_TOKEN_DIR``: a directory, usually a mounted Secret: each file's name is a token's
  name and its content the token; the file ``token`` is the token named ``default``. Hidden
  entries (the kubelet's ``..data`` links) are skipped. It is re-read only when a file in it
  changed (name, inode, size or mtime), which a Secret update always does.

A name that is not a valid label value, an empty token or a file over 4 KiB is skipped with a
warning: a bad entry never locks the others out.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hlsforge_uploader.auth.callers import DEFAULT_NAME, valid_name

log = logging.getLogger("hlsforge.uploader.auth")
LEGACY_KEY = "token"
MAX_TOKEN_BYTES = 4096
Entries = list[tuple[str, str]]


def parse_entries(items: list[str]) -> Entries:
    """``name=token`` or a bare token (named ``default``) per item."""
    entries: Entries = []
    for item in items:
        name, sep, token = item.partition("=")
        if sep and token and valid_name(name.strip()):
            entries.append((name.strip(), token.strip()))
        elif item.strip():
            entries.append((DEFAULT_NAME, item.strip()))
    return entries


def read_token_file(path: Path) -> Entries:
    """The lines of a single-token file, each named ``default`` (missing file: none)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [(DEFAULT_NAME, line.strip()) for line in lines if line.strip()]


Signature = tuple[tuple[str, int, int, int], ...]


@dataclass
class TokenDirectory:
    """The named tokens of one directory, cached until a file in it changes."""

    path: Path
    _signature: Signature | None = None
    _entries: Entries = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def entries(self) -> Entries:
        signature = self._sign()
        with self._lock:
            if signature != self._signature:
                self._entries = self._read(signature)
                self._signature = signature
            return list(self._entries)

    def _sign(self) -> Signature:
        found: list[tuple[str, int, int, int]] = []
        try:
            with os.scandir(self.path) as listing:
                for entry in listing:
                    if entry.name.startswith("."):
                        continue
                    try:
                        st = entry.stat()  # follows the Secret's links
                    except OSError:
                        continue
                    found.append((entry.name, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            return ()
        return tuple(sorted(found))

    def _read(self, signature: Signature) -> Entries:
        entries: Entries = []
        for key, _, size, _ in signature:
            name = DEFAULT_NAME if key == LEGACY_KEY else key
            if not valid_name(name) or size > MAX_TOKEN_BYTES:
                log.warning("token file %s skipped: bad name or over 4 KiB", key)
                continue
            try:
                token = (self.path / key).read_text().strip()
            except (OSError, UnicodeDecodeError):
                continue
            if token:
                entries.append((name, token))
        return entries


_directories: dict[Path, TokenDirectory] = {}
_directories_lock = threading.Lock()


def directory(path: Path) -> TokenDirectory:
    """The process's one cache of ``path``."""
    with _directories_lock:
        return _directories.setdefault(path, TokenDirectory(path))


def all_entries(env: list[str], token_file: Path | None, token_dir: Path | None) -> Entries:
    """Every (name, token) from the three sources, in their order."""
    entries = parse_entries(env)
    if token_file is not None:
        entries += read_token_file(token_file)
    if token_dir is not None:
        entries += directory(token_dir).entries()
    return entries
