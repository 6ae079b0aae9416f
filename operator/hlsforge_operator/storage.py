"""The operator's view of media storage: verify outputs, delete sources and outputs.

A location is a path on the shared volume or an ``s3://`` URI; ``Stores`` sends each call to
the right backend, so the handlers never know which one holds a job's media. A volume path is
resolved strictly inside the volume's root (symlinks included), so a spec can never make the
operator touch anything else. On S3 an output is what its commit record names (see
``hlsforge_transcoder.s3_commit``), re-verified from S3 before the job is called Succeeded.
Deletes are idempotent: a missing file or object is the goal reached, not an error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from hlsforge_api.v1alpha1 import Outputs
from hlsforge_storage.locations import (
    LocationError,
    S3Uri,
    check_relative,
    inside,
    is_s3,
    parse_s3_uri,
)
from hlsforge_storage.s3 import ObjectStoreError, S3Objects
from hlsforge_storage.tree import MAX_TREE_BYTES
from hlsforge_transcoder.errors import TranscodeError
from hlsforge_transcoder.manifest import outputs
from hlsforge_transcoder.s3_commit import read_commit, sweep_versions, verify_committed
from hlsforge_transcoder.verify import verify_dir


class StorageError(Exception):
    """The location cannot be used (outside the volume, or an I/O failure)."""


class MediaStore(Protocol):
    def verify(self, output: str) -> Outputs:
        """Re-read a committed output; raise StorageError (with the reason) if it is not whole."""
        ...

    def delete_source(self, source: str) -> bool:
        """Delete the source; True if it existed."""
        ...

    def delete_output(self, output: str) -> bool:
        """Delete a committed output and any partial attempts; True if anything existed."""
        ...

    def clean_partial(self, output: str) -> int:
        """Remove partial attempt directories next to ``output``; returns how many."""
        ...

    def holds_output(self, output: str) -> bool:
        """Something was committed at ``output`` (whole or not)."""
        ...


class VolumeStore:
    """The shared volume (a ReadWriteMany PVC) mounted at ``root``."""

    def __init__(self, root: Path, max_bytes: int = MAX_TREE_BYTES) -> None:
        self.root = root.resolve()
        self.max_bytes = max_bytes

    def path(self, location: str) -> Path:
        """``location`` on the volume; refused when it leaves the root or passes through a
        symbolic link (a link could make a delete or a verify reach another job's media)."""
        try:
            resolved = inside(self.root, location)
        except LocationError as exc:
            raise StorageError(f"{location!r} is not usable on the media volume: {exc}") from None
        if resolved != self.root / check_relative(location):
            raise StorageError(f"{location!r} passes through a symbolic link on the media volume")
        return resolved

    def verify(self, output: str) -> Outputs:
        try:
            return outputs(verify_dir(self.path(output), max_bytes=self.max_bytes), output)
        except TranscodeError as exc:
            raise StorageError(str(exc)) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {output}: {exc}") from exc

    def delete_source(self, source: str) -> bool:
        try:
            self.path(source).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {source}: {exc}") from exc
        return True

    def _partials(self, output: str) -> list[Path]:
        target = self.path(output)
        return sorted(target.parent.glob(f"{target.name}.tmp-*"))

    def clean_partial(self, output: str) -> int:
        partials = self._partials(output)
        for partial in partials:
            shutil.rmtree(partial, ignore_errors=True)
        return len(partials)

    def holds_output(self, output: str) -> bool:
        return os.path.lexists(self.path(output))

    def delete_output(self, output: str) -> bool:
        target = self.path(output)
        existed = target.exists()
        if existed:
            shutil.rmtree(target)
        return self.clean_partial(output) > 0 or existed


class S3Store:
    """Media on S3: sources are objects, outputs are prefixes with a commit record."""

    def __init__(self, objects: S3Objects) -> None:
        self.objects = objects

    @staticmethod
    def uri(location: str) -> S3Uri:
        try:
            return parse_s3_uri(location)
        except LocationError as exc:
            raise StorageError(str(exc)) from None

    def verify(self, output: str) -> Outputs:
        try:
            found = verify_committed(self.objects, self.uri(output))
        except TranscodeError as exc:
            raise StorageError(str(exc)) from exc
        if found is None:
            raise StorageError(f"{output} holds no committed output")
        root, manifest = found
        return outputs(manifest, str(root))

    def delete_source(self, source: str) -> bool:
        try:
            return self.objects.delete(self.uri(source))
        except ObjectStoreError as exc:
            raise StorageError(f"cannot delete {source}: {exc}") from exc

    def clean_partial(self, output: str) -> int:
        """Remove every version folder no commit names (called once no pod can be writing)."""
        try:
            return len(sweep_versions(self.objects, self.uri(output), max_age_s=-1))
        except TranscodeError as exc:
            raise StorageError(str(exc)) from exc

    def holds_output(self, output: str) -> bool:
        try:
            return read_commit(self.objects, self.uri(output)) is not None
        except TranscodeError as exc:
            raise StorageError(str(exc)) from exc

    def delete_output(self, output: str) -> bool:
        try:
            return self.objects.delete_prefix(self.uri(output)) > 0
        except ObjectStoreError as exc:
            raise StorageError(f"cannot delete {output}: {exc}") from exc


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
                    raise StorageError(f"S3 is not configured: {exc}") from exc
            return self._s3
        if self.volume is None:
            raise StorageError(f"{location!r} is a volume path; this operator has no volume")
        return self.volume

    def verify(self, output: str) -> Outputs:
        return self.store(output).verify(output)

    def delete_source(self, source: str) -> bool:
        return self.store(source).delete_source(source)

    def delete_output(self, output: str) -> bool:
        return self.store(output).delete_output(output)

    def clean_partial(self, output: str) -> int:
        return self.store(output).clean_partial(output)

    def holds_output(self, output: str) -> bool:
        return self.store(output).holds_output(output)
