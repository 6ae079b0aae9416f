"""Media on S3: sources are objects, outputs are prefixes whose commit record names the
version (``s3_commit``), re-verified from S3 before a job is called Succeeded.
"""

from __future__ import annotations

from hlsforge_api.errors import StorageError, TranscodeError
from hlsforge_api.v1alpha1 import Outputs
from hlsforge_output.manifest import outputs
from hlsforge_storage.locations import LocationError, S3Uri, parse_s3_uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects
from hlsforge_storage.s3_commit import read_commit, sweep_versions, verify_committed


class S3Store:
    """Media on S3: sources are objects, outputs are prefixes with a commit record."""

    def __init__(self, objects: S3Objects) -> None:
        self.objects = objects

    @staticmethod
    def uri(location: str) -> S3Uri:
        try:
            return parse_s3_uri(location)
        except LocationError as exc:
            raise StorageError("InvalidLocation", str(exc)) from None

    def prepare(self, source: str, output: str, uid: str) -> None:
        """Nothing to prepare: the pod reads and publishes the objects itself (a missing
        source object is the transcoder's retryable SourceMissing)."""

    def verify(self, output: str, uid: str) -> Outputs:
        try:
            found = verify_committed(self.objects, self.uri(output))
        except StorageError:
            raise
        except TranscodeError as exc:
            raise StorageError(exc.reason, exc.message) from exc
        if found is None:
            raise StorageError("NotCommitted", f"{output} holds no committed output")
        root, manifest = found
        return outputs(manifest, str(root))

    def delete_source(self, source: str) -> bool:
        try:
            return self.objects.delete(self.uri(source))
        except ObjectStoreError as exc:
            raise StorageError("DeleteFailed", f"cannot delete {source}: {exc}") from exc

    def clean_partial(self, output: str, uid: str) -> int:
        """Remove every version folder no commit names (called once no pod can be writing)."""
        return len(sweep_versions(self.objects, self.uri(output), max_age_s=-1))

    def holds_output(self, output: str) -> bool:
        return read_commit(self.objects, self.uri(output)) is not None

    def committed_root(self, output: str | S3Uri) -> S3Uri | None:
        """The version folder the commit record of ``output`` names, below which every file of
        the committed output lies; None while nothing is committed. Raises StorageError (the
        store failed) or VerifyFailed (``CommitInvalid``: a record we did not write)."""
        uri = self.uri(output) if isinstance(output, str) else output
        record = read_commit(self.objects, uri)
        return None if record is None else uri.child(record.version)

    def delete_output(self, output: str, uid: str) -> bool:
        try:
            return self.objects.delete_prefix(self.uri(output)) > 0
        except ObjectStoreError as exc:
            raise StorageError("DeleteFailed", f"cannot delete {output}: {exc}") from exc
