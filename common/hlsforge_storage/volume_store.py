"""Media on the shared volume (a ReadWriteMany PVC): a location is a path resolved strictly
inside the volume's root, never through a symbolic link, so a spec can never make a component
touch anything else.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import stat
from pathlib import Path

from hlsforge_api.errors import StorageError, TranscodeError
from hlsforge_api.pod import WORK_OUTPUT
from hlsforge_api.v1alpha1 import Outputs
from hlsforge_output.manifest import outputs
from hlsforge_output.tree import MAX_TREE_BYTES
from hlsforge_output.verify import verify_dir
from hlsforge_storage.locations import LocationError, check_relative, inside, is_s3
from hlsforge_storage.volume_commit import commit


class VolumeStore:
    """The shared volume (a ReadWriteMany PVC) mounted at ``root``.

    A transcoder pod sees only its source (read-only) and its work folder ``<work>/<uid>``; it
    commits into ``<work>/<uid>/out`` (``WORK_OUTPUT``). The operator verifies that tree and
    publishes it at the output location with ``volume_commit.commit`` (one ``rename``, first
    writer wins), so nothing a pod writes reaches another job's media.
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
            raise StorageError(
                "OutsideVolume", f"{location!r} is not usable on the media volume: {exc}"
            ) from None
        if resolved != self.root / check_relative(location):
            raise StorageError(
                "SymbolicLink", f"{location!r} passes through a symbolic link on the media volume"
            )
        return resolved

    def output_file(self, output: str, relative: str) -> Path:
        """The file ``relative`` inside the output ``output``, by ``path``'s rule: strictly inside
        the root and through no symbolic link, the output folder included (a link planted in an
        output could otherwise serve another job's files). Whether it exists is the caller's
        question; raises StorageError."""
        try:
            location = f"{check_relative(output)}/{check_relative(relative)}"
        except LocationError as exc:
            raise StorageError(
                "OutsideVolume",
                f"{relative!r} of {output!r} is not usable on the media volume: {exc}",
            ) from None
        return self.path(location)

    def work_folder(self, uid: str) -> Path:
        return self.path(f"{self.work}/{check_relative(uid)}")

    def prepare(self, source: str, output: str, uid: str) -> None:
        if not is_s3(source):
            try:
                info = self.path(source).lstat()
            except FileNotFoundError:
                raise StorageError(
                    "SourceMissing", f"the source {source} does not exist", final=True
                ) from None
            except StorageError as exc:  # it leaves the volume or passes through a link
                raise StorageError("InvalidInput", exc.message, final=True) from None
            if not stat.S_ISREG(info.st_mode):
                raise StorageError(
                    "InvalidInput", f"the source {source} is not a regular file", final=True
                )
        if not is_s3(output):
            folder = self.work_folder(uid)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if self.pod_uid is not None and os.geteuid() == 0:
                    os.chown(folder, self.pod_uid, self.pod_uid)
            except OSError as exc:
                raise StorageError(
                    "WorkFolderFailed", f"cannot make the work folder of {output}: {exc}"
                ) from exc

    def verify(self, output: str, uid: str) -> Outputs:
        target = self.path(output)
        finished = self.work_folder(uid) / WORK_OUTPUT
        try:
            if finished.is_dir() and not finished.is_symlink():
                manifest = verify_dir(finished, max_bytes=self.max_bytes)
                target.parent.mkdir(parents=True, exist_ok=True)
                if not commit(finished, target):
                    raise StorageError(
                        "PublishFailed",
                        f"cannot publish {output}: an output is already there, never replaced",
                    )
            else:
                manifest = verify_dir(target, max_bytes=self.max_bytes)
            return outputs(manifest, output)
        except StorageError:
            raise
        except TranscodeError as exc:
            raise StorageError(exc.reason, exc.message) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # space can come back: ask again
                raise StorageError(
                    "NoSpace",
                    f"cannot publish {output}: the volume is full ({exc})",
                    transient=True,
                ) from exc
            raise StorageError("PublishFailed", f"cannot publish {output}: {exc}") from exc

    def delete_source(self, source: str) -> bool:
        try:
            self.path(source).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError("DeleteFailed", f"cannot delete {source}: {exc}") from exc
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
