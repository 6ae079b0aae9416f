"""Who owns which location: create-exclusive claim records, on the volume and on S3.

Before any pod runs, the operator claims a TranscodeJob's output and its source for the
TranscodeJob's UID. A claim is a small JSON record written create-exclusive (``O_EXCL`` on the
volume, ``If-None-Match: *`` on S3) at ``<claims>/<location>.claim.json``, so the records
mirror the media tree: the claims of the locations below ``hls/a`` all lie below
``<claims>/hls/a/``. That makes the three questions an output claim must answer cheap:

- is this location claimed? one read of its record;
- does it lie inside another job's output? one read per ancestor (a location has a few);
- does another job's output lie inside it? is anything below its record folder.

The media itself is checked too, so outputs published before claims existed are never
adopted: an output location that already holds anything, or lies inside a folder that holds a
published output (``manifest.json`` or ``commit.json``), is refused.

A job writes, sweeps and deletes only inside its own claim. Claims are decided one at a time
by the active operator (``Ownership`` is not safe for concurrent use), and the exclusive create
settles a race on the same location between two processes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from hlsforge_storage.areas import Areas
from hlsforge_storage.locations import LocationError, check_relative, is_s3, parse_s3_uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects

SUFFIX = ".claim.json"
MAX_RECORD = 64 << 10
COMMITTED_MARKERS = ("manifest.json", "commit.json")
"""A folder holding one of these holds a published output (volume commit, S3 commit)."""

Kind = Literal["output", "source"]


class ClaimError(Exception):
    """The claim store cannot be read or written (I/O, S3); retry later."""


class ClaimConflictError(Exception):
    """The location belongs to someone else; ``reason`` is the status reason to report."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Owner:
    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"TranscodeJob {self.namespace}/{self.name} (uid {self.uid})"


class ClaimRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Kind
    location: str
    namespace: str
    name: str
    uid: str
    created_at: datetime

    @property
    def owner(self) -> Owner:
        return Owner(self.namespace, self.name, self.uid)


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


class Ownership:
    """Claim, check and release locations for TranscodeJobs.

    ``volume`` is the media volume's space (None: no volume); ``bucket(name)`` returns the
    space of an S3 bucket.
    """

    def __init__(
        self,
        areas: Areas,
        volume: Space | None,
        bucket: Callable[[str], Space],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.areas = areas
        self._volume = volume
        self._bucket = bucket
        self._clock = clock

    # -- where things are -------------------------------------------------------------------

    def _space(self, location: str) -> tuple[Space, str]:
        if is_s3(location):
            try:
                uri = parse_s3_uri(location)
            except LocationError as exc:
                raise ClaimError(str(exc)) from None
            return self._bucket(uri.bucket), uri.key
        if self._volume is None:
            raise ClaimError(f"{location!r} is a volume path and there is no media volume")
        try:
            return self._volume, check_relative(location)
        except LocationError as exc:
            raise ClaimError(str(exc)) from None

    def _record_key(self, path: str) -> str:
        return f"{self.areas.claims.rstrip('/')}/{path}{SUFFIX}"

    def _records_folder(self, path: str) -> str:
        return f"{self.areas.claims.rstrip('/')}/{path}"

    def record(self, location: str) -> ClaimRecord | None:
        """The claim on ``location``, or None."""
        space, path = self._space(location)
        return _parse(space.read(self._record_key(path)), location)

    def owned_by(self, location: str, owner: Owner) -> bool:
        record = self.record(location)
        return record is not None and record.uid == owner.uid

    # -- claiming ---------------------------------------------------------------------------

    def claim_output(self, output: str, owner: Owner) -> None:
        """Claim ``output`` for ``owner`` or raise ``ClaimConflictError("OutputConflict", ...)``."""
        space, path = self._space(output)
        if self._held(space, path, output, owner, "OutputConflict"):
            return
        area_root = self.areas.root("outputs", owner.namespace)
        for ancestor in _ancestors(path, area_root):
            record = _parse(space.read(self._record_key(ancestor)), ancestor)
            if record is not None:
                raise ClaimConflictError(
                    "OutputConflict",
                    f"output {output!r} lies inside {ancestor!r}, the output of {record.owner}",
                )
            for marker in COMMITTED_MARKERS:
                if space.exists(f"{ancestor}/{marker}"):
                    raise ClaimConflictError(
                        "OutputConflict",
                        f"output {output!r} lies inside {ancestor!r}, which holds a published "
                        "output",
                    )
        below = space.first_below(self._records_folder(path))
        if below is not None:
            raise ClaimConflictError(
                "OutputConflict",
                f"output {output!r} lies above another job's output "
                f"({below.removeprefix(self.areas.claims.rstrip('/') + '/').removesuffix(SUFFIX)})",
            )
        if space.exists(path) or space.first_below(path) is not None:
            raise ClaimConflictError(
                "OutputConflict",
                f"output {output!r} already holds media that no TranscodeJob owns "
                "(an earlier output is never adopted or overwritten)",
            )
        self._create(space, path, output, owner, "output", "OutputConflict")

    def claim_source(self, source: str, owner: Owner) -> None:
        """Claim ``source`` for ``owner`` or raise ``ClaimConflictError("SourceConflict", ...)``."""
        space, path = self._space(source)
        if self._held(space, path, source, owner, "SourceConflict"):
            return
        self._create(space, path, source, owner, "source", "SourceConflict")

    def release(self, location: str, owner: Owner) -> bool:
        """Drop ``owner``'s claim on ``location``; True if there was one. Another owner's
        claim is left alone."""
        space, path = self._space(location)
        record = _parse(space.read(self._record_key(path)), location)
        if record is None or record.uid != owner.uid:
            return False
        space.remove(self._record_key(path))
        return True

    def _held(self, space: Space, path: str, location: str, owner: Owner, reason: str) -> bool:
        record = _parse(space.read(self._record_key(path)), location)
        if record is None:
            return False
        if record.uid == owner.uid:
            return True
        raise ClaimConflictError(reason, f"{location!r} is claimed by {record.owner}")

    def _create(
        self, space: Space, path: str, location: str, owner: Owner, kind: Kind, reason: str
    ) -> None:
        record = ClaimRecord(
            kind=kind,
            location=location,
            namespace=owner.namespace,
            name=owner.name,
            uid=owner.uid,
            created_at=self._clock(),
        )
        if space.create(self._record_key(path), record.model_dump_json().encode()):
            return
        if not self._held(space, path, location, owner, reason):  # raced a release
            raise ClaimError(f"the claim on {location!r} changed while it was being made")


def _ancestors(path: str, area_root: str) -> list[str]:
    """The folders between ``area_root`` (exclusive) and ``path`` (exclusive), outermost
    first: ``hls/a/b/c`` below ``hls`` -> ``hls/a``, ``hls/a/b``."""
    parts = path.split("/")
    depth = len(area_root.split("/"))
    return ["/".join(parts[:i]) for i in range(depth + 1, len(parts))]


def _parse(data: bytes | None, location: str) -> ClaimRecord | None:
    if data is None:
        return None
    try:
        return ClaimRecord.model_validate_json(data)
    except ValidationError:
        raise ClaimError(f"the claim record of {location!r} is damaged") from None
