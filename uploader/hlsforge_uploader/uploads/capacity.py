"""How many uploads one replica streams at once, whoever sends them.

Each upload in flight holds its write buffer (volume) or about two S3 parts (bucket) in
memory, so this cap times that is the memory uploads may take; the token quotas bound one
token, this bounds them all. Beyond it a new upload is 503 ``busy`` with Retry-After, before
a byte of its body is read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hlsforge_uploader.errors import UploaderBusy


class UploadSlots:
    """A counter of uploads in flight (used from the event loop only, so no lock)."""

    def __init__(self, cap: int, retry_after: int = 5) -> None:
        if cap < 1 or retry_after < 1:
            raise ValueError(f"cap {cap} and retry_after {retry_after} must be positive")
        self.cap = cap
        self.retry_after = retry_after
        self.held = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold one slot for the body of the ``with``; ``UploaderBusy`` when none is free."""
        if self.held >= self.cap:
            raise UploaderBusy(
                f"this uploader is streaming {self.held} uploads, as many as it may at once; "
                "retry later",
                self.retry_after,
            )
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1
