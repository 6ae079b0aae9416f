"""A streamed S3 multipart upload: parts go out while the body is still arriving.

Memory is bounded by one part (``part_size``, at least S3's 5 MiB minimum). ``abort`` is
idempotent and is what every failure path calls, so no multipart upload is left behind to be
billed and forgotten; ``complete`` is conditional (``If-None-Match: *``), so it never replaces
an object that is already there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import ObjectStoreError, wrap

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIN_PART = 5 << 20
MAX_PARTS = 10_000


class AlreadyExists(Exception):  # noqa: N818 - a state, not a failure
    """``complete`` found the key taken."""


class MultipartWriter:
    def __init__(self, client: S3Client, uri: S3Uri, part_size: int = 16 << 20) -> None:
        self.client = client
        self.uri = uri
        self.part_size = max(part_size, MIN_PART)
        self.upload_id: str | None = None
        self.written = 0
        self._buffer = bytearray()
        self._parts: list[CompletedPartTypeDef] = []
        self._done = False

    def _start(self) -> str:
        if self.upload_id is None:
            try:
                answer = self.client.create_multipart_upload(
                    Bucket=self.uri.bucket, Key=self.uri.key
                )
            except (ClientError, BotoCoreError) as exc:
                raise wrap(exc, f"start multipart upload of {self.uri}") from None
            self.upload_id = answer["UploadId"]
        return self.upload_id

    def _send(self, data: bytes) -> None:
        upload_id = self._start()
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ObjectStoreError("TooManyParts", f"{self.uri} needs more than {MAX_PARTS} parts")
        try:
            answer = self.client.upload_part(
                Bucket=self.uri.bucket,
                Key=self.uri.key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
            )
        except (ClientError, BotoCoreError) as exc:
            raise wrap(exc, f"upload part {number} of {self.uri}") from None
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def write(self, data: bytes) -> None:
        assert not self._done, "write after complete/abort"
        self._buffer += data
        self.written += len(data)
        while len(self._buffer) >= self.part_size:
            part = bytes(self._buffer[: self.part_size])
            del self._buffer[: self.part_size]
            self._send(part)

    def complete(self) -> None:
        """Send the last part and make the object visible; raises ``AlreadyExists``."""
        assert not self._done, "complete after complete/abort"
        if self._buffer or not self._parts:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        try:
            self.client.complete_multipart_upload(
                Bucket=self.uri.bucket,
                Key=self.uri.key,
                UploadId=self._start(),
                MultipartUpload={"Parts": self._parts},
                IfNoneMatch="*",
            )
        except ClientError as exc:
            self.abort()
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                raise AlreadyExists(str(self.uri)) from None
            raise wrap(exc, f"complete {self.uri}") from None
        except BotoCoreError as exc:
            self.abort()
            raise wrap(exc, f"complete {self.uri}") from None
        self._done = True

    def abort(self) -> None:
        """Drop every part sent; idempotent, and best effort on a network failure."""
        self._buffer.clear()
        if self._done or self.upload_id is None:
            self._done = True
            return
        self._done = True
        try:
            self.client.abort_multipart_upload(
                Bucket=self.uri.bucket, Key=self.uri.key, UploadId=self.upload_id
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise wrap(exc, f"abort {self.uri}") from None
        except BotoCoreError as exc:
            raise wrap(exc, f"abort {self.uri}") from None
