"""The operator's view of media storage: verify outputs, delete sources and outputs.

A location is a path on the shared volume or an ``s3://`` URI; ``Stores`` sends each call to
the right backend, so the handlers never know which one holds a job's media. A volume path is
resolved strictly inside the volume's root (symlinks included), so a spec can never make the
operator touch anything else. On S3 an output is what its commit record names (see
``hlsforge_storage.s3_commit``), re-verified from S3 before the job is called Succeeded.
Deletes are idempotent: a missing file or object is the goal reached, not an error.
"""

from __future__ import annotations

import glob
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from hlsforge_api.errors import TranscodeError
from hlsforge_api.v1alpha1 import Outputs
from hlsforge_operator.jobspec import WORK_OUTPUT
from hlsforge_output.manifest import outputs
from hlsforge_output.tree import MAX_TREE_BYTES
from hlsforge_output.verify import verify_dir
from hlsforge_storage.locations import (
    LocationError,
    S3Uri,
    check_relative,
    inside,
    is_s3,
    parse_s3_uri,
)
from hlsforge_storage.s3 import ObjectStoreError, S3Objects
from hlsforge_storage.s3_commit import read_commit, sweep_versions, verify_committed


class StorageError(Exception):
    """The location cannot be used (outside the volume, or an I/O failure). ``refusal`` is
    the status reason when no retry can help (the job fails), None for a passing failure."""

    def __init__(self, message: str, *, refusal: str | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal


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


class VolumeStore:
    """The shared volume (a ReadWriteMany PVC) mounted at ``root``.

    A transcoder pod sees only its source (read-only) and its work folder ``<work>/<uid>``
    (``jobspec.media_mounts``); it commits into ``<work>/<uid>/out``. The operator verifies that
    tree and moves it to the output location with one ``rename`` (first writer wins: a rename
    onto a non-empty folder fails), so nothing a pod writes reaches another job's media.
    """

    def __init__(
        self,
        root: Path,
        max_bytes: int = MAX_TREE_BYTES,
        work: str = ".hlsforge/work",
        pod_uid: int | None = None,
    ) -> None:
        self.root = root.resolve()
        self.max_bytes = max_bytes
        self.work = check_relative(work)
        self.pod_uid = pod_uid
        """Owner given to a work folder when the operator runs as root (tests, hostPath)."""

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

    def work_folder(self, uid: str) -> Path:
        return self.path(f"{self.work}/{check_relative(uid)}")

    def prepare(self, source: str, output: str, uid: str) -> None:
        if not is_s3(source):
            try:
                info = self.path(source).lstat()
            except FileNotFoundError:
                raise StorageError(
                    f"the source {source} does not exist", refusal="SourceMissing"
                ) from None
            except StorageError as exc:  # it leaves the volume or passes through a link
                raise StorageError(str(exc), refusal="InvalidInput") from None
            if not stat.S_ISREG(info.st_mode):
                raise StorageError(
                    f"the source {source} is not a regular file", refusal="InvalidInput"
                )
        if not is_s3(output):
            folder = self.work_folder(uid)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if self.pod_uid is not None and os.geteuid() == 0:
                    os.chown(folder, self.pod_uid, self.pod_uid)
            except OSError as exc:
                raise StorageError(f"cannot make the work folder of {output}: {exc}") from exc

    def verify(self, output: str, uid: str) -> Outputs:
        target = self.path(output)
        finished = self.work_folder(uid) / WORK_OUTPUT
        try:
            if finished.is_dir() and not finished.is_symlink():
                manifest = verify_dir(finished, max_bytes=self.max_bytes)
                target.parent.mkdir(parents=True, exist_ok=True)
                finished.rename(target)
            else:
                manifest = verify_dir(target, max_bytes=self.max_bytes)
            return outputs(manifest, output)
        except TranscodeError as exc:
            raise StorageError(str(exc)) from exc
        except OSError as exc:
            raise StorageError(f"cannot publish {output}: {exc}") from exc

    def delete_source(self, source: str) -> bool:
        try:
            self.path(source).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {source}: {exc}") from exc
        return True

    def clean_partial(self, output: str, uid: str) -> int:
        """The job's work folder, and ``<output>.tmp-*`` attempts of engines that wrote next
        to the output (before work folders existed)."""
        target = self.path(output)
        partials = sorted(target.parent.glob(f"{glob.escape(target.name)}.tmp-*"))
        folder = self.work_folder(uid)
        if folder.exists():
            partials.append(folder)
        for partial in partials:
            shutil.rmtree(partial, ignore_errors=True)
        return len(partials)

    def holds_output(self, output: str) -> bool:
        return os.path.lexists(self.path(output))

    def delete_output(self, output: str, uid: str) -> bool:
        target = self.path(output)
        existed = target.exists()
        if existed:
            shutil.rmtree(target)
        return self.clean_partial(output, uid) > 0 or existed


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

    def prepare(self, source: str, output: str, uid: str) -> None:
        """Nothing to prepare: the pod reads and publishes the objects itself (a missing
        source object is the transcoder's retryable SourceMissing)."""

    def verify(self, output: str, uid: str) -> Outputs:
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

    def clean_partial(self, output: str, uid: str) -> int:
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

    def delete_output(self, output: str, uid: str) -> bool:
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

    def prepare(self, source: str, output: str, uid: str) -> None:
        """Only the volume prepares anything (it skips the S3 locations)."""
        if is_s3(source) and is_s3(output):
            return
        if self.volume is None:
            raise StorageError("a volume location, and this operator has no volume")
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
