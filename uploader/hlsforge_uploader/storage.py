"""Where uploads land and where HLS is read from: a small interface and its volume version.

An upload is written to a temporary name and only becomes ``uploads/<id>.<ext>`` on
``commit``, which never replaces an existing file (``link`` + ``unlink``, atomic on POSIX
file systems including NFS): a partial or concurrent upload can never be seen as a source.
Every location is resolved strictly inside the volume root, symlinks included.
An S3 implementation provides the same methods (multipart upload, commit = complete).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Protocol


class StorageError(Exception):
    """An I/O failure of the storage itself (disk full, permissions)."""


class AlreadyCommitted(Exception):  # noqa: N818 - a state, not a failure
    """``commit`` found the final name taken: another request created this upload first."""


class OutsideRoot(Exception):  # noqa: N818 - a state, not a failure
    """A location or delivery path that resolves outside where it must stay."""


class UploadSink(Protocol):
    location: str
    """The source location once committed, relative to the storage root (``uploads/<id>.mp4``)."""
    local_path: Path
    """A local file holding the bytes written so far: what ffprobe reads."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> str:
        """Make the upload visible at ``location``; raises ``AlreadyCommitted``."""
        ...

    def abort(self) -> None:
        """Remove whatever was written; idempotent."""
        ...


class Storage(Protocol):
    def begin_upload(self, upload_id: str, extension: str) -> UploadSink: ...

    def delete(self, location: str) -> bool:
        """Delete a committed source; True if it existed."""
        ...

    def output_file(self, output: str, relative: str) -> Path:
        """The file ``relative`` inside the job output ``output``; raises ``OutsideRoot``."""
        ...

    def ready(self) -> bool: ...


class VolumeUpload:
    def __init__(self, root: Path, final: Path, location: str) -> None:
        self.location = location
        self._final = final
        self.local_path = final.with_name(f".{final.name}.part-{secrets.token_hex(4)}")
        self._file: BinaryIO | None = None
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: a fresh file, never an existing one or a planted symlink.
            fd = os.open(self.local_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create the upload file: {exc}") from exc
        self._file = os.fdopen(fd, "wb", buffering=0)

    def write(self, data: bytes) -> None:
        assert self._file is not None, "write after commit/abort"
        try:
            self._file.write(data)
        except OSError as exc:
            raise StorageError(f"cannot write the upload: {exc}") from exc

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def commit(self) -> str:
        try:
            if self._file is not None:
                os.fsync(self._file.fileno())
            self._close()
            os.link(self.local_path, self._final)
        except FileExistsError:
            self.abort()
            raise AlreadyCommitted(self.location) from None
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot commit the upload: {exc}") from exc
        self.local_path.unlink(missing_ok=True)
        self.local_path = self._final
        return self.location

    def abort(self) -> None:
        self._close()
        if self.local_path != self._final:
            self.local_path.unlink(missing_ok=True)


def _inside(root: Path, relative: str) -> Path:
    candidate = (root / relative).resolve()
    if candidate == root or root not in candidate.parents:
        raise OutsideRoot(relative)
    return candidate


class VolumeStorage:
    """The shared ReadWriteMany volume, mounted at ``root``."""

    def __init__(self, root: Path, uploads_dir: str = "uploads") -> None:
        self.root = root.resolve()
        self.uploads_dir = uploads_dir.strip("/")

    def begin_upload(self, upload_id: str, extension: str) -> VolumeUpload:
        location = f"{self.uploads_dir}/{upload_id}.{extension}"
        return VolumeUpload(self.root, _inside(self.root, location), location)

    def delete(self, location: str) -> bool:
        try:
            _inside(self.root, location).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {location}: {exc}") from exc
        return True

    def output_file(self, output: str, relative: str) -> Path:
        base = _inside(self.root, output)
        return _inside(base, relative)

    def ready(self) -> bool:
        with contextlib.suppress(OSError):
            uploads = self.root / self.uploads_dir
            uploads.mkdir(parents=True, exist_ok=True)
            return os.access(uploads, os.W_OK)
        return False
