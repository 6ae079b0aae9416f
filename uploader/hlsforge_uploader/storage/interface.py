"""Where uploads land and where HLS is read from: the interface every backend implements.

Two backends: ``volume.VolumeStorage`` (the shared ReadWriteMany volume) and
``bucket.S3Storage`` (a bucket); ``backend.open_backend`` picks one from the settings, and
nothing else in the uploader knows which. Both are built on ``hlsforge_storage`` (the
volume's ``VolumeStore``, the bucket's ``S3Store``: the same location rules, deletes and commit
lookups as the operator), and every storage failure is its one error,
``hlsforge_api.errors.StorageError``. The contract of an upload, whatever the backend:

- bytes go to a place no job names (a temporary file, an unfinished multipart upload);
- ``finish`` makes them readable by ffprobe (``probe_input``), never replacing anything;
- ``commit`` hands them over as ``location``, the TranscodeJob's ``spec.source``;
- ``abort`` (idempotent) removes everything not yet handed over, on every failure path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from starlette.responses import Response

from hlsforge_media.media_input import MediaInput


class AlreadyCommitted(Exception):  # noqa: N818 - a state, not a failure
    """The final name is taken: another request created this upload first."""


class UploadSink(Protocol):
    location: str
    """The source location once committed: ``uploads/<id>.mp4`` on the volume,
    ``s3://<bucket>/uploads/<id>.mp4`` on S3."""

    def write(self, data: bytes) -> None:
        """Append ``data``; raises ``StorageError``."""
        ...

    def finish(self) -> None:
        """Every byte is written: make them readable by ``probe_input``. Raises
        ``AlreadyCommitted`` if the backend must claim the final name here (S3)."""
        ...

    def probe_input(self) -> Path | MediaInput:
        """What ffprobe reads (after ``finish``): a local file or a presigned URL."""
        ...

    def commit(self) -> str:
        """Hand the upload over at ``location``; raises ``AlreadyCommitted``."""
        ...

    def abort(self) -> None:
        """Remove whatever was written and not handed over; idempotent."""
        ...


class Storage(Protocol):
    def begin_upload(self, upload_id: str, extension: str) -> UploadSink: ...

    def output_location(self, upload_id: str) -> str:
        """The job's ``spec.output`` for this upload (``hls/<id>`` or ``s3://b/hls/<id>``)."""
        ...

    def delete(self, location: str) -> bool:
        """Delete a committed source; True if it existed. Raises ``StorageError``."""
        ...

    def committed_input(self, location: str) -> Path | MediaInput:
        """What ffprobe reads for the committed source ``location``."""
        ...

    def source_digest(self, location: str) -> str | None:
        """SHA-256 (hex) of the committed source ``location`` (reads every byte: for the rare
        recovery of an upload cut off before its job), None if it is gone."""
        ...

    def source_locations(self, limit: int) -> list[str]:
        """Up to ``limit`` committed sources directly in the uploads area: never a partial
        upload, never a direct upload's staging folder. Raises ``StorageError``."""
        ...

    def remove_stale_partials(self, written_before: float) -> int:
        """Delete partial uploads last written before ``written_before`` (epoch seconds): what
        a killed process left. A volume's ``.<name>.part-*`` files; a bucket's unfinished
        multipart uploads of streamed uploads (started and last written before it). Returns
        how many went."""
        ...

    def deliver(self, output: str, relative: str, range_header: str | None) -> Response:
        """The answer for file ``relative`` (already ``delivery.rules.check_path``-ed) of the job
        output ``output``. Blocking (run it in a thread); raises ``NotFound`` for a file that
        is not there or not committed, and the other ``ApiError`` s of a failed read."""
        ...

    def ready(self) -> bool: ...

    def free_bytes(self) -> int | None:
        """Bytes the store can still take, or None when it has no practical limit (S3)."""
        ...
