"""The storage broker: everything the engine asks of S3, behind one small protocol.

``run_job`` never touches S3 itself; it asks a ``StorageBroker`` for the source input, the
committed output, a sweep of dead attempts and the publication of a finished local folder.
``DirectBroker`` does it in this process with this process's credentials (the CLI, tests).
``broker_client.RemoteBroker`` asks the publisher (``publisher.py``) over a unix socket, so
that in a transcoder pod the container that runs ffmpeg holds no S3 credential at all: the
publisher, in its own container and uid, holds the keys and acts only for the one source and
the one output it was started with.

Both raise the engine's errors with today's exit-code semantics: a missing or unreadable
source and a failed store are ``StorageError`` (retried), a commit that does not verify is
``StorageError('DestinationOccupied')`` (never overwritten), a bad setting ``UsageError``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hlsforge_api.errors import StorageError, UsageError, VerifyFailed
from hlsforge_media.media_input import MediaInput, local_input, s3_object_input
from hlsforge_storage.locations import LocationError, S3Uri, parse_s3_uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects
from hlsforge_storage.s3_commit import publish, sweep_versions, verify_committed
from hlsforge_storage.s3config import S3Config, S3ConfigError

SOURCE_URL_SECONDS = 12 * 3600
"""A presigned source URL is checked at each (re)connect; it outlives any sane encode (with
STS credentials, as under IRSA, the session's own expiry caps it)."""
SOURCE_FILE = "source"
"""Where a downloaded source lands inside the scratch folder."""


@dataclass(frozen=True)
class Published:
    """An output as committed: the version root (``s3://...``), its manifest, and whether this
    attempt wrote the commit (False: an earlier or concurrent attempt did)."""

    root: str
    manifest: dict[str, Any]
    committed: bool


class StorageBroker(Protocol):
    def scratch(self) -> AbstractContextManager[Path]:
        """A private work folder, removed afterwards (shared with the publisher if remote)."""
        ...

    def source_input(self, uri: S3Uri, scratch: Path) -> MediaInput:
        """The source as ffmpeg reads it: a presigned URL (``stream``) or a file downloaded
        into ``scratch`` (``download``). ``StorageError`` if missing or unreadable."""
        ...

    def committed(self, output: S3Uri) -> Published | None:
        """The committed output (re-verified without checksums), or None."""
        ...

    def sweep(self, output: S3Uri, max_age_s: float) -> list[str]:
        """Delete dead attempts' version folders idle for ``max_age_s``; their names."""
        ...

    def publish(self, local: Path, output: S3Uri) -> Published:
        """Upload the verified folder ``local`` as a new version and commit it (first wins)."""
        ...


def parse_uri(value: str, what: str) -> S3Uri:
    try:
        return parse_s3_uri(value)
    except LocationError as exc:
        raise UsageError("BadLocation", f"{what}: {exc}") from None


def objects_from_env(env: Mapping[str, str]) -> S3Objects:
    """A client from ``HLSFORGE_S3_*`` and the AWS default credential chain."""
    try:
        return S3Objects.from_config(S3Config.from_env(env))
    except S3ConfigError as exc:
        raise UsageError("S3ConfigInvalid", str(exc)) from None


@contextmanager
def private_scratch(mode: int = 0o700) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="hlsforge-"))
    folder.chmod(mode)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class DirectBroker:
    """S3 from this process, with this process's credentials."""

    def __init__(self, objects: S3Objects) -> None:
        self.objects = objects

    def scratch(self) -> AbstractContextManager[Path]:
        return private_scratch()

    def _require(self, uri: S3Uri) -> None:
        """The source must exist: a missing one is a clear, retryable (4) error."""
        try:
            size = self.objects.size(uri)
        except ObjectStoreError as exc:
            raise StorageError("SourceUnreadable", f"cannot read {uri}: {exc}") from None
        if size is None:
            raise StorageError("SourceMissing", f"{uri} does not exist")

    def source_input(self, uri: S3Uri, scratch: Path) -> MediaInput:
        self._require(uri)
        if self.objects.config.source_access == "stream":
            return s3_object_input(self.objects, uri, SOURCE_URL_SECONDS)
        target = scratch / SOURCE_FILE
        try:
            self.objects.download(uri, target)
        except ObjectStoreError as exc:
            raise StorageError("SourceUnreadable", f"cannot download {uri}: {exc}") from None
        return local_input(target)

    def committed(self, output: S3Uri) -> Published | None:
        try:
            found = verify_committed(self.objects, output, checksums=False)
        except VerifyFailed as exc:
            raise StorageError(
                "DestinationOccupied",
                f"{output} has a commit that does not verify ({exc.reason}); "
                "it is never overwritten",
            ) from None
        return None if found is None else Published(str(found[0]), found[1], committed=False)

    def sweep(self, output: S3Uri, max_age_s: float) -> list[str]:
        return sweep_versions(self.objects, output, max_age_s)

    def publish(self, local: Path, output: S3Uri) -> Published:
        root, manifest, won = publish(self.objects, local, output)
        return Published(str(root), manifest, won)

    def publish_files(self, files: Mapping[str, Path], output: S3Uri) -> Published:
        """``publish`` of files already opened safely (the publisher's pinned folder)."""
        root, manifest, won = publish(self.objects, files, output)
        return Published(str(root), manifest, won)
