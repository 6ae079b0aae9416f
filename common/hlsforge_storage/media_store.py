"""One interface over the media, whichever store holds it: ``MediaStore``, and ``Stores``,
which sends each call to the volume (``volume_store``) or to S3 (``s3_store``) by the
location's form, so callers never know which one holds a job's media.

Every failure is ``hlsforge_api.errors.StorageError`` (a reason and a sentence); ``final`` marks
the ones no retry can help (a source that is absent or can never be read). Deletes are
idempotent: a missing file or object is the goal reached, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hlsforge_api.errors import StorageError
from hlsforge_api.v1alpha1 import Outputs
from hlsforge_storage.locations import is_s3
from hlsforge_storage.s3_store import S3Store
from hlsforge_storage.volume_store import VolumeStore


class MediaStore(Protocol):
    """What the operator does with media. ``uid`` is the TranscodeJob's: the volume keeps each
    job's work in ``<work>/<uid>``, the one folder its pod may write."""

    def prepare(self, source: str, output: str, uid: str) -> None:
        """Before the Job is created: the source is there (a regular file), and the job's work
        folder exists for its pod. Raises StorageError, with ``refusal`` set when the source is
        absent or can never be read."""
        ...

    def verify(self, output: str, uid: str) -> Outputs:
        """Re-read a finished output (publishing it first where the store does that); raise
        StorageError (with the reason) if it is not whole."""
        ...

    def delete_source(self, source: str) -> bool:
        """Delete the source; True if it existed."""
        ...

    def delete_output(self, output: str, uid: str) -> bool:
        """Delete a committed output and any partial attempts; True if anything existed."""
        ...

    def clean_partial(self, output: str, uid: str) -> int:
        """Remove the job's partial attempts; returns how many."""
        ...

    def holds_output(self, output: str) -> bool:
        """Something was committed at ``output`` (whole or not)."""
        ...


class Stores:
    """Each call goes to the volume or to S3 by the location's form. The S3 client is made on
    first use, so a volume-only operator needs no S3 settings."""

    def __init__(self, volume: VolumeStore | None, s3: Callable[[], S3Store]) -> None:
        self.volume = volume
        self._make_s3 = s3
        self._s3: S3Store | None = None

    def store(self, location: str) -> MediaStore:
        if is_s3(location):
            if self._s3 is None:
                try:
                    self._s3 = self._make_s3()
                except ValueError as exc:
                    raise StorageError("NoS3", f"S3 is not configured: {exc}") from exc
            return self._s3
        if self.volume is None:
            raise StorageError("NoVolume", f"{location!r} is a volume path; there is no volume")
        return self.volume

    def prepare(self, source: str, output: str, uid: str) -> None:
        """Only the volume prepares anything (it skips the S3 locations)."""
        if is_s3(source) and is_s3(output):
            return
        if self.volume is None:
            raise StorageError("NoVolume", "a volume location, and there is no volume")
        self.volume.prepare(source, output, uid)

    def verify(self, output: str, uid: str) -> Outputs:
        return self.store(output).verify(output, uid)

    def delete_source(self, source: str) -> bool:
        return self.store(source).delete_source(source)

    def delete_output(self, output: str, uid: str) -> bool:
        return self.store(output).delete_output(output, uid)

    def clean_partial(self, output: str, uid: str) -> int:
        return self.store(output).clean_partial(output, uid)

    def holds_output(self, output: str) -> bool:
        return self.store(output).holds_output(output)
