"""Direct uploads, the S3 side: the pending record, the presigned PUT, the staged file, and
its promotion to the source key. Blocking calls (run them in a thread); ``ObjectStoreError``
for store failures. The rules and the order of the steps are in ``uploads.direct``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from hlsforge_media.media_input import MediaInput
from hlsforge_media.sniff import SNIFF_BYTES
from hlsforge_storage.multipart import AlreadyExists
from hlsforge_storage.s3 import ObjectStoreError, wrap
from hlsforge_uploader.storage.bucket import S3Storage, probe_input
from hlsforge_uploader.storage.bucket_copy import copy_new
from hlsforge_uploader.storage.interface import AlreadyCommitted
from hlsforge_uploader.uploads.direct_record import PUT_HEADERS, DirectKeys, PendingUpload


@dataclass(frozen=True)
class Ticket:
    """What the client needs to PUT its file."""

    url: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class Staged:
    size: int
    etag: str


class DirectUploads:
    def __init__(self, storage: S3Storage) -> None:
        self.storage = storage
        self.objects = storage.objects

    def keys(self, upload_id: str) -> DirectKeys:
        return DirectKeys(self.storage.bucket, self.storage.uploads_dir, upload_id)

    def create(
        self, upload_id: str, options: dict[str, object], now: datetime, size: int
    ) -> Ticket:
        """Record the pending upload and presign its PUT (valid ``HLSFORGE_S3_PRESIGN_SECONDS``)
        for a body of exactly ``size`` bytes (a signed ``Content-Length``)."""
        keys = self.keys(upload_id)
        seconds = self.objects.config.presign_seconds
        expires = now + timedelta(seconds=seconds)
        record = PendingUpload(upload_id, dict(options), expires, size)
        if not self.objects.put(keys.record, record.render(), if_none_match=True,
                                content_type="application/json"):  # fmt: skip
            raise ObjectStoreError("PreconditionFailed", f"{upload_id} is already pending")
        url = self.objects.presign_put(
            keys.staged, seconds, if_none_match=True, content_length=size
        )
        return Ticket(url, dict(PUT_HEADERS), expires)

    def pending(self, upload_id: str) -> PendingUpload | None:
        """The pending upload's record; None if unknown (never created, or cleaned up)."""
        try:
            data = self.objects.read(self.keys(upload_id).record)
        except ObjectStoreError as exc:
            if exc.missing:
                return None
            raise
        try:
            return PendingUpload.parse(data)
        except ValueError:
            return None

    def staged(self, upload_id: str) -> Staged | None:
        """Size and ETag of the file the client PUT; None before it did."""
        uri = self.keys(upload_id).staged
        try:
            head = self.objects.client.head_object(Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            failure = wrap(exc, f"HEAD {uri}")
            if failure.missing:
                return None
            raise failure from None
        except BotoCoreError as exc:
            raise wrap(exc, f"HEAD {uri}") from None
        return Staged(head["ContentLength"], head["ETag"])

    def read_head(self, upload_id: str) -> bytes:
        return self.objects.read(self.keys(upload_id).staged, length=SNIFF_BYTES)

    def probe_input(self, upload_id: str) -> MediaInput:
        return probe_input(self.objects, self.keys(upload_id).staged)

    def promote(self, upload_id: str, extension: str, staged: Staged) -> str:
        """Copy the checked file to its source key (never replacing one, only if it still has
        the checked ETag); returns the source location. Raises ``AlreadyCommitted`` or
        ``bucket_copy.SourceChanged``."""
        keys = self.keys(upload_id)
        source = keys.source(extension)
        try:
            copy_new(self.objects, keys.staged, source, staged.size, staged.etag)
        except AlreadyExists:
            raise AlreadyCommitted(str(source)) from None
        return str(source)

    def discard(self, upload_id: str) -> None:
        """Delete the staged file and the record; idempotent, best effort (a lifecycle rule
        expires what a failure leaves)."""
        with contextlib.suppress(ObjectStoreError):
            self.objects.delete_prefix(self.keys(upload_id).folder)
