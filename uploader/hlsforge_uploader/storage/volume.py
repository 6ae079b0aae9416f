"""The shared ReadWriteMany volume as storage.

An upload is written to a temporary name and only becomes ``uploads/<id>.<ext>`` on
``commit``, which never replaces an existing file (``link`` + ``unlink``, atomic on POSIX
file systems including NFS): a partial or concurrent upload can never be seen as a source.
Every location is resolved by the operator's own ``hlsforge_storage.volume_store.VolumeStore``:
strictly inside the volume root and through no symbolic link, the rule the operator applies
when it reads, verifies and deletes the same files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

from starlette.responses import Response

from hlsforge_api.errors import StorageError
from hlsforge_storage.volume_store import VolumeStore
from hlsforge_uploader.delivery import from_volume
from hlsforge_uploader.storage.interface import AlreadyCommitted


class VolumeUpload:
    def __init__(self, final: Path, location: str) -> None:
        self.location = location
        self._final = final
        self.local_path = final.with_name(f".{final.name}.part-{secrets.token_hex(4)}")
        """The bytes written so far (the final path once committed)."""
        self._file: BinaryIO | None = None
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: a fresh file, never an existing one or a planted symlink.
            fd = os.open(self.local_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StorageError(
                "UploadCreateFailed", f"cannot create the upload file: {exc}"
            ) from exc
        self._file = os.fdopen(fd, "wb", buffering=0)

    def write(self, data: bytes) -> None:
        assert self._file is not None, "write after finish/abort"
        try:
            self._file.write(data)
        except OSError as exc:
            raise StorageError("UploadWriteFailed", f"cannot write the upload: {exc}") from exc

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def finish(self) -> None:
        try:
            if self._file is not None:
                os.fsync(self._file.fileno())
            self._close()
        except OSError as exc:
            self.abort()
            raise StorageError("UploadWriteFailed", f"cannot write the upload: {exc}") from exc

    def probe_input(self) -> Path:
        return self.local_path

    def commit(self) -> str:
        self.finish()
        try:
            os.link(self.local_path, self._final)
        except FileExistsError:
            self.abort()
            raise AlreadyCommitted(self.location) from None
        except OSError as exc:
            self.abort()
            raise StorageError("UploadCommitFailed", f"cannot commit the upload: {exc}") from exc
        self.local_path.unlink(missing_ok=True)
        self.local_path = self._final
        return self.location

    def abort(self) -> None:
        self._close()
        if self.local_path != self._final:
            self.local_path.unlink(missing_ok=True)


class VolumeStorage:
    """The shared ReadWriteMany volume, mounted at ``root``."""

    def __init__(self, root: Path, uploads_dir: str = "uploads", output_dir: str = "hls") -> None:
        self.store = VolumeStore(root)
        self.root = self.store.root
        self.uploads_dir = uploads_dir.strip("/")
        self.output_dir = output_dir.strip("/")

    def begin_upload(self, upload_id: str, extension: str) -> VolumeUpload:
        location = f"{self.uploads_dir}/{upload_id}.{extension}"
        return VolumeUpload(self.store.path(location), location)

    def output_location(self, upload_id: str) -> str:
        return f"{self.output_dir}/{upload_id}"

    def delete(self, location: str) -> bool:
        return self.store.delete_source(location)

    def deliver(self, output: str, relative: str, range_header: str | None) -> Response:
        return from_volume.respond(self.store, output, relative)

    def committed_input(self, location: str) -> Path:
        return self.store.path(location)

    def source_digest(self, location: str) -> str | None:
        digest = hashlib.sha256()
        try:
            with self.store.path(location).open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError("ReadFailed", f"cannot read {location}: {exc}") from exc
        return digest.hexdigest()

    def _upload_entries(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.root / self.uploads_dir) as entries:
                return [e for e in entries if e.is_file(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError("ListFailed", f"cannot list {self.uploads_dir}: {exc}") from exc

    def source_locations(self, limit: int) -> list[str]:
        names = [e.name for e in self._upload_entries() if not e.name.startswith(".")]
        return [f"{self.uploads_dir}/{name}" for name in sorted(names)[:limit]]

    def remove_stale_partials(self, written_before: float) -> int:
        removed = 0
        for entry in self._upload_entries():
            if not (entry.name.startswith(".") and ".part-" in entry.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < written_before:
                    Path(entry.path).unlink()
                    removed += 1
        return removed

    def free_bytes(self) -> int | None:
        try:
            stats = os.statvfs(self.root)
        except OSError:
            return None
        return stats.f_bavail * stats.f_frsize

    def ready(self) -> bool:
        with contextlib.suppress(OSError):
            uploads = self.root / self.uploads_dir
            uploads.mkdir(parents=True, exist_ok=True)
            return os.access(uploads, os.W_OK)
        return False
