"""Direct uploads, the pure part: where a pending one is kept and what it records.

The client PUTs its file straight to S3 with a presigned URL, so the uploader never sees the
bytes until ``complete``. Between the two calls the upload's options must survive a restart
and be visible to every replica, without a second job store: they are a small JSON object in
the bucket next to the staged file, ``<uploads>/direct/<id>/request.json``, written with
``If-None-Match: *`` when the upload is created. The staged file is
``<uploads>/direct/<id>/source``; the presigned PUT carries ``If-None-Match: *`` too, so once
written it cannot be replaced (nothing can be swapped in after ``complete`` checked it), and
the declared size as a signed ``Content-Length``, so it takes no other number of bytes. Both
are deleted once the job exists (or the file was refused); a bucket lifecycle rule on
``<uploads>/direct/`` expires what abandoned uploads leave.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hlsforge_storage.locations import S3Uri

SCHEMA = "hlsforge.io/direct-upload/v1"
STAGING_DIR = "direct"
PUT_HEADERS = {"If-None-Match": "*"}
"""Headers the client must send with its PUT (they are part of the signature)."""
DIRECT_LABEL = "hlsforge.io/upload"
"""Label on the TranscodeJob of a direct upload (value ``direct``): a repeated ``complete``
answers with that job, and only for jobs made this way."""


@dataclass(frozen=True)
class DirectKeys:
    """Where one direct upload lives in the bucket."""

    bucket: str
    uploads_dir: str
    upload_id: str

    @property
    def folder(self) -> S3Uri:
        return S3Uri(self.bucket, f"{self.uploads_dir}/{STAGING_DIR}/{self.upload_id}")

    @property
    def staged(self) -> S3Uri:
        return self.folder.child("source")

    @property
    def record(self) -> S3Uri:
        return self.folder.child("request.json")

    def source(self, extension: str) -> S3Uri:
        """The key the job reads, exactly as for a streamed upload."""
        return S3Uri(self.bucket, f"{self.uploads_dir}/{self.upload_id}.{extension}")


@dataclass(frozen=True)
class PendingUpload:
    upload_id: str
    options: dict[str, Any]
    """``UploadOptions`` in wire form (validated when the upload was created)."""
    expires_at: datetime
    """When the presigned PUT stops working."""
    size: int | None = None
    """The size the client declared: the presigned PUT signs it as ``Content-Length``, and
    ``complete`` refuses a file of any other size. None only in records written before sizes
    were declared."""

    def render(self) -> bytes:
        body: dict[str, Any] = {
            "schema": SCHEMA,
            "id": self.upload_id,
            "options": self.options,
            "expiresAt": self.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self.size is not None:
            body["size"] = self.size
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def parse(cls, data: bytes) -> PendingUpload:
        """Raise ``ValueError`` for anything but a record we wrote."""
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("schema") != SCHEMA:
            raise ValueError("not an hlsforge direct-upload record")
        upload_id, options = body.get("id"), body.get("options")
        if not isinstance(upload_id, str) or not isinstance(options, dict):
            raise ValueError("the direct-upload record lacks its id or options")
        expires = datetime.strptime(str(body.get("expiresAt")), "%Y-%m-%dT%H:%M:%SZ")
        size = body.get("size")
        if size is not None and (type(size) is not int or not 0 < size < 1 << 50):
            raise ValueError("the direct-upload record's size is not a byte count")
        return cls(upload_id, options, expires.replace(tzinfo=UTC), size)
