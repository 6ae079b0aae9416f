"""Where claim records are kept: a folder on the volume or a bucket, each able to create a
small record exclusively (``O_EXCL``; ``If-None-Match: *``), read it, remove it, and say whether
anything lies below a key. ``claims.Ownership`` decides; these only store.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Protocol

from hlsforge_storage.locations import LocationError, check_relative, parse_s3_uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects

MAX_RECORD = 64 << 10
"""Largest claim record read back; anything larger is not one of ours."""


class ClaimError(Exception):
    """The claim store cannot be read or written (I/O, S3); retry later."""


class Space(Protocol):
    """One volume or one bucket, addressed by relative paths / keys (no leading slash)."""

    def create(self, key: str, data: bytes) -> bool:
        """Write ``data`` at ``key`` unless something is there; False if it was."""
        ...

    def read(self, key: str) -> bytes | None:
        """A small file, or None when absent."""
        ...

    def remove(self, key: str) -> None:
        """Delete ``key``; absent is fine."""
        ...

    def first_below(self, key: str) -> str | None:
        """Some file or object strictly below ``key/``, or None."""
        ...

    def exists(self, key: str) -> bool:
        """A file, folder or object is at ``key`` exactly."""
        ...


class VolumeSpace:
    """The media volume. Never follows a symlink out of the root; records are regular files."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        try:
            check_relative(key)
        except LocationError as exc:
            raise ClaimError(str(exc)) from None
        path = self.root / key
        # Every existing component must be a real folder inside the root: no symlink may
        # redirect a claim record (or a check) elsewhere.
        probe = self.root
        for part in Path(key).parts[:-1]:
            probe = probe / part
            if probe.is_symlink():
                raise ClaimError(f"{key!r} passes through a symbolic link")
        return path

    def create(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise ClaimError(f"cannot create {key}: {exc}") from exc
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def read(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ClaimError(f"{key} is a symbolic link") from None
            raise ClaimError(f"cannot read {key}: {exc}") from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ClaimError(f"{key} is not a regular file")
            return os.read(fd, MAX_RECORD)
        finally:
            os.close(fd)

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def first_below(self, key: str) -> str | None:
        folder = self._path(key)
        if folder.is_symlink() or not folder.is_dir():
            return None
        for directory, dirs, files in os.walk(folder):
            if files:
                return (Path(directory) / files[0]).relative_to(self.root).as_posix()
            dirs.sort()
        return None

    def exists(self, key: str) -> bool:
        return os.path.lexists(self._path(key))


class BucketSpace:
    """One S3 bucket."""

    def __init__(self, objects: S3Objects, bucket: str) -> None:
        self.objects = objects
        self.bucket = bucket

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def create(self, key: str, data: bytes) -> bool:
        try:
            return self.objects.put(
                parse_s3_uri(self._uri(key)),
                data,
                content_type="application/json",
                if_none_match=True,
            )
        except (ObjectStoreError, LocationError) as exc:
            raise ClaimError(str(exc)) from exc

    def read(self, key: str) -> bytes | None:
        try:
            uri = parse_s3_uri(self._uri(key))
            size = self.objects.size(uri)
            if size is None:
                return None
            return self.objects.read(uri, length=min(size, MAX_RECORD))
        except ObjectStoreError as exc:
            if exc.missing:
                return None
            raise ClaimError(str(exc)) from exc
        except LocationError as exc:
            raise ClaimError(str(exc)) from exc

    def remove(self, key: str) -> None:
        try:
            self.objects.delete(parse_s3_uri(self._uri(key)))
        except (ObjectStoreError, LocationError) as exc:
            raise ClaimError(str(exc)) from exc

    def first_below(self, key: str) -> str | None:
        try:
            for info in self.objects.listing(parse_s3_uri(self._uri(key))):
                return info.key
        except (ObjectStoreError, LocationError) as exc:
            raise ClaimError(str(exc)) from exc
        return None

    def exists(self, key: str) -> bool:
        try:
            return self.objects.size(parse_s3_uri(self._uri(key))) is not None
        except (ObjectStoreError, LocationError) as exc:
            raise ClaimError(str(exc)) from exc
