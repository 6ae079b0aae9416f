"""The pure core of one upload: count, cap, sniff, fingerprint and batch the incoming bytes.

Fed chunk by chunk as they arrive from the socket; nothing here does I/O, so the rules
(413 the moment the cap is crossed, sniff before anything is stored, the body fingerprint
for idempotency) are unit-tested with plain bytes. Memory is bounded by ``buffer_bytes``.
"""

from __future__ import annotations

import hashlib

from hlsforge_api.errors import InvalidInput
from hlsforge_media.sniff import SNIFF_BYTES, Sniffed, sniff
from hlsforge_uploader.errors import InvalidMedia, TooLarge

EXTENSIONS = {"mov": "mp4", "matroska": "mkv", "mpegts": "ts", "avi": "avi", "flv": "flv"}
"""The extension a source gets on storage, by sniffed container (never the client's)."""


def sniff_head(head: bytes) -> Sniffed:
    """The engine's ``sniff`` of a file's first ``SNIFF_BYTES``; refusals are ``InvalidMedia``."""
    try:
        return sniff(head)
    except InvalidInput as exc:
        raise InvalidMedia(exc.reason, exc.message) from None


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"the upload exceeds the limit of {limit} bytes", extra={"limit": limit})


def has_room(free: int | None, declared: int | None, reserve: int) -> bool:
    """Whether a store with ``free`` bytes (None: no limit) takes an upload of ``declared``
    bytes (None: not said, chunked) and still keeps ``reserve``."""
    return free is None or free - (declared or 0) >= reserve


class Ingest:
    """State of one upload body. ``feed`` returns the batches to store, in order."""

    def __init__(self, limit: int, buffer_bytes: int = 1024 * 1024, digest: bool = True) -> None:
        self.limit = limit
        self.buffer_bytes = buffer_bytes
        self.received = 0
        self.sniffed: Sniffed | None = None
        self._hash = hashlib.sha256() if digest else None
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """Account for ``chunk``; raises ``TooLarge`` or ``InvalidMedia`` (sniffed)."""
        if not chunk:
            return []
        self.received += len(chunk)
        if self.received > self.limit:
            raise too_large(self.limit)
        if self._hash is not None:
            self._hash.update(chunk)
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self.sniffed is None:
            if self._pending_bytes < SNIFF_BYTES:
                return []
            self._sniff()
        if self._pending_bytes >= self.buffer_bytes:
            return [self._take()]
        return []

    def finish(self) -> list[bytes]:
        """The body ended: sniff a short file now and hand back what is still buffered."""
        if self.sniffed is None:
            self._sniff()
        return [self._take()] if self._pending_bytes else []

    @property
    def extension(self) -> str:
        assert self.sniffed is not None, "sniff first"
        return EXTENSIONS[self.sniffed.container]

    @property
    def ready_to_store(self) -> bool:
        """True once the head is sniffed: only then may a storage file be created."""
        return self.sniffed is not None

    def digest(self) -> str:
        """SHA-256 of every byte fed so far (hex); only when built with ``digest=True``."""
        assert self._hash is not None, "built without digest"
        return self._hash.hexdigest()

    def _sniff(self) -> None:
        self.sniffed = sniff_head(b"".join(self._pending)[:SNIFF_BYTES])

    def _take(self) -> bytes:
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        return data
