"""One transcode between two locations, each a local path or an ``s3://`` URI.

Local to local is ``run.transcode`` unchanged. An S3 source is read through a presigned URL
(ranged reads by ffmpeg's http protocol, allowed for that input only) or, with
``HLSFORGE_S3_SOURCE_ACCESS=download``, copied to scratch first. An S3 destination is encoded to
scratch, verified there, then published with ``s3_commit.publish``; a destination that already
holds a verified commit is reported without encoding anything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_storage.locations import LocationError, S3Uri, is_s3, parse_s3_uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects
from hlsforge_storage.s3config import S3Config, S3ConfigError
from hlsforge_transcoder.errors import StorageError, UsageError, VerifyFailed
from hlsforge_transcoder.limits import DEFAULT_LIMITS, Limits
from hlsforge_transcoder.media_input import MediaInput, local_input, s3_object_input
from hlsforge_transcoder.run import Emit, Result, transcode
from hlsforge_transcoder.s3_commit import publish, sweep_versions, verify_committed

SOURCE_URL_SECONDS = 12 * 3600
"""A presigned source URL is checked at each (re)connect; it outlives any sane encode (with
STS credentials, as under IRSA, the session's own expiry caps it)."""


def _ignore(_event: dict[str, object]) -> None:
    return None


def _uri(value: str, what: str) -> S3Uri:
    try:
        return parse_s3_uri(value)
    except LocationError as exc:
        raise UsageError("BadLocation", f"{what}: {exc}") from None


def _objects(env: Mapping[str, str]) -> S3Objects:
    try:
        return S3Objects.from_config(S3Config.from_env(env))
    except S3ConfigError as exc:
        raise UsageError("S3ConfigInvalid", str(exc)) from None


def _require(objects: S3Objects, uri: S3Uri) -> None:
    """The source must exist: a missing one is a clear, retryable (4) error."""
    try:
        size = objects.size(uri)
    except ObjectStoreError as exc:
        raise StorageError("SourceUnreadable", f"cannot read {uri}: {exc}") from None
    if size is None:
        raise StorageError("SourceMissing", f"{uri} does not exist")


def s3_input(objects: S3Objects, uri: S3Uri) -> MediaInput:
    """The object behind a presigned URL; it must exist."""
    _require(objects, uri)
    return s3_object_input(objects, uri, SOURCE_URL_SECONDS)


@contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="hlsforge-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _source(objects: S3Objects | None, src: str, scratch: Path) -> MediaInput:
    if not is_s3(src):
        return local_input(Path(src))
    assert objects is not None
    uri = _uri(src, "source")
    if objects.config.source_access == "stream":
        return s3_input(objects, uri)
    local = scratch / "source"
    _require(objects, uri)
    try:
        objects.download(uri, local)
    except ObjectStoreError as exc:
        raise StorageError("SourceUnreadable", f"cannot download {uri}: {exc}") from None
    return local_input(local)


def run_job(
    src: str,
    dest: str,
    settings: EncodingSettings,
    *,
    limits: Limits = DEFAULT_LIMITS,
    emit: Emit = _ignore,
    env: Mapping[str, str] | None = None,
) -> Result:
    env = os.environ if env is None else env
    objects = _objects(env) if is_s3(src) or is_s3(dest) else None
    if not is_s3(dest):
        with _scratch() as scratch:
            return transcode(_source(objects, src, scratch), Path(dest), settings,
                             limits=limits, emit=emit)  # fmt: skip
    assert objects is not None
    output = _uri(dest, "destination")
    try:
        found = verify_committed(objects, output, checksums=False)
    except VerifyFailed as exc:
        raise StorageError(
            "DestinationOccupied",
            f"{output} has a commit that does not verify ({exc.reason}); it is never overwritten",
        ) from None
    if found is not None:
        return Result(str(found[0]), found[1], committed=False)
    sweep_versions(objects, output, limits.stale_attempt_age_s)
    with _scratch() as scratch:
        local = transcode(_source(objects, src, scratch), scratch / "out", settings,
                          limits=limits, emit=emit)  # fmt: skip
        emit({"event": "publishing", "destination": str(output)})
        root, manifest, committed = publish(objects, scratch / "out", output)
    return Result(str(root), manifest, committed, local.timings)
