"""A streamed S3 multipart upload: parts go out while the body is still arriving.

Memory is bounded by about one part (``part_size``, at least S3's 5 MiB minimum): incoming
chunks are kept as they are and joined once into a part (one copy) as soon as they reach
``part_size``, so a part is ``part_size`` plus at most one chunk (S3 allows unequal parts; a
single write of two parts or more is cut into ``part_size`` pieces). ``abort`` is
idempotent and is what every failure path calls, so no multipart upload is left behind to be
billed and forgotten; ``complete`` is conditional (``If-None-Match: *``), so it never replaces
an object that is already there.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import PRECONDITION_CODES, ObjectStoreError, wrap

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIN_PART = 5 << 20
MAX_PARTS = 10_000


class AlreadyExists(Exception):  # noqa: N818 - a state, not a failure
    """``complete`` found the key taken."""


def abort_upload(client: S3Client, uri: S3Uri, upload_id: str) -> None:
    """Drop a multipart upload's parts; a missing upload is the goal reached."""
    try:
        client.abort_multipart_upload(Bucket=uri.bucket, Key=uri.key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise wrap(exc, f"abort {uri}") from None
    except BotoCoreError as exc:
        raise wrap(exc, f"abort {uri}") from None


def abort_stale(client: S3Client, area: S3Uri, written_before: float, limit: int = 1000) -> int:
    """Abort the multipart uploads of keys directly in ``area`` (not below a subfolder) that
    were started and last given a part before ``written_before`` (epoch seconds): what an
    abort that could not reach the store (it was down) left. Returns how many went."""
    aborted = 0
    try:
        listed = client.list_multipart_uploads(Bucket=area.bucket, Prefix=area.prefix)
        for upload in listed.get("Uploads", [])[:limit]:
            key, upload_id = upload["Key"], upload["UploadId"]
            if "/" in key[len(area.prefix) :] or upload["Initiated"].timestamp() >= written_before:
                continue
            parts = client.list_parts(Bucket=area.bucket, Key=key, UploadId=upload_id)
            if any(p["LastModified"].timestamp() >= written_before for p in parts.get("Parts", [])):
                continue
            abort_upload(client, S3Uri(area.bucket, key), upload_id)
            aborted += 1
    except (ClientError, BotoCoreError) as exc:
        raise wrap(exc, f"list multipart uploads in {area}") from None
    return aborted


def complete_once(
    client: S3Client, uri: S3Uri, upload_id: str, parts: list[CompletedPartTypeDef]
) -> None:
    """Complete a multipart upload only if ``uri`` does not exist (``If-None-Match: *``).

    On any failure the upload is aborted (best effort); a taken key raises ``AlreadyExists``.
    """
    try:
        client.complete_multipart_upload(
            Bucket=uri.bucket,
            Key=uri.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            IfNoneMatch="*",
        )
    except (ClientError, BotoCoreError) as exc:
        with contextlib.suppress(ObjectStoreError):
            abort_upload(client, uri, upload_id)
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        if code in PRECONDITION_CODES:
            raise AlreadyExists(str(uri)) from None
        raise wrap(exc, f"complete {uri}") from None


class MultipartWriter:
    def __init__(self, client: S3Client, uri: S3Uri, part_size: int = 16 << 20) -> None:
        self.client = client
        self.uri = uri
        self.part_size = max(part_size, MIN_PART)
        self.upload_id: str | None = None
        self.written = 0
        self._chunks: list[bytes] = []
        self._buffered = 0
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

    def _take(self) -> bytes:
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return data

    def write(self, data: bytes) -> None:
        assert not self._done, "write after complete/abort"
        if not data:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        self.written += len(data)
        if self._buffered >= self.part_size:
            joined = self._take()
            while len(joined) >= 2 * self.part_size:
                self._send(joined[: self.part_size])
                joined = joined[self.part_size :]
            self._send(joined)

    def complete(self) -> None:
        """Send the last part and make the object visible; raises ``AlreadyExists``."""
        assert not self._done, "complete after complete/abort"
        if self._buffered or not self._parts:
            self._send(self._take())
        try:
            complete_once(self.client, self.uri, self._start(), self._parts)
        finally:
            self._done = True  # completed, or aborted by complete_once

    def abort(self) -> None:
        """Drop every part sent; idempotent, and best effort on a network failure."""
        self._chunks.clear()
        self._buffered = 0
        if self._done or self.upload_id is None:
            self._done = True
            return
        self._done = True
        abort_upload(self.client, self.uri, self.upload_id)
