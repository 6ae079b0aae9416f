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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hlsforge_storage.areas import Areas
from hlsforge_storage.claim_spaces import ClaimError, Space
from hlsforge_storage.locations import LocationError, check_relative, is_s3, parse_s3_uri

SUFFIX = ".claim.json"
COMMITTED_MARKERS = ("manifest.json", "commit.json")
"""A folder holding one of these holds a published output (volume commit, S3 commit)."""

Kind = Literal["output", "source"]
RESERVED = ""
"""The UID of a claim made for a TranscodeJob that does not exist yet (``reserve_source``)."""


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
        return record is not None and _belongs(record, owner)

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
        """Claim ``source`` for ``owner`` or raise ``ClaimConflictError("SourceConflict", ...)``.

        A source reserved for ``owner``'s name (``reserve_source``) is adopted: the record then
        names the TranscodeJob's UID."""
        space, path = self._space(source)
        if self._held(space, path, source, owner, "SourceConflict"):
            return
        self._create(space, path, source, owner, "source", "SourceConflict")

    def reserve_source(self, source: str, namespace: str, name: str) -> bool:
        """Claim ``source`` for the TranscodeJob ``namespace/name`` before it exists (its UID is
        not known yet): the uploader does this before it creates the job for an upload, so no
        other TranscodeJob can claim the upload first. True if this call made the reservation,
        False if it was already there (a retry, or another replica on the same name). Raises
        ``ClaimConflictError``."""
        owner = Owner(namespace, name, RESERVED)
        space, path = self._space(source)
        if self._held(space, path, source, owner, "SourceConflict"):
            return False
        return self._create(space, path, source, owner, "source", "SourceConflict")

    def release(self, location: str, owner: Owner) -> bool:
        """Drop ``owner``'s claim on ``location``; True if there was one. Another owner's
        claim is left alone."""
        space, path = self._space(location)
        record = _parse(space.read(self._record_key(path)), location)
        if record is None or not _belongs(record, owner):
            return False
        space.remove(self._record_key(path))
        return True

    def _held(self, space: Space, path: str, location: str, owner: Owner, reason: str) -> bool:
        record = _parse(space.read(self._record_key(path)), location)
        if record is None:
            return False
        if record.uid == owner.uid:
            return True
        if _belongs(record, owner):  # reserved for this job's name: adopt it with the UID
            space.remove(self._record_key(path))
            return False
        raise ClaimConflictError(reason, f"{location!r} is claimed by {record.owner}")

    def _create(
        self, space: Space, path: str, location: str, owner: Owner, kind: Kind, reason: str
    ) -> bool:
        record = ClaimRecord(
            kind=kind,
            location=location,
            namespace=owner.namespace,
            name=owner.name,
            uid=owner.uid,
            created_at=self._clock(),
        )
        if space.create(self._record_key(path), record.model_dump_json().encode()):
            return True
        if not self._held(space, path, location, owner, reason):  # raced a release
            raise ClaimError(f"the claim on {location!r} changed while it was being made")
        return False


def _belongs(record: ClaimRecord, owner: Owner) -> bool:
    """The record is ``owner``'s: same UID, or reserved for ``owner``'s namespace and name."""
    if record.uid == owner.uid:
        return record.uid != RESERVED or record.owner == owner
    return record.uid == RESERVED and (record.namespace, record.name) == (
        owner.namespace,
        owner.name,
    )


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
