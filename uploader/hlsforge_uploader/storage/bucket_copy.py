"""A server-side copy to a key that must not exist yet: multipart copy, completed conditionally.

A plain CopyObject cannot refuse to replace its destination and stops at 5 GiB; a multipart
upload whose parts are ``UploadPartCopy`` ranges of the source can, through the same
``If-None-Match: *`` on completion that streamed uploads use. Every part also carries
``x-amz-copy-source-if-match`` with the ETag the caller validated, so bytes that changed after
validation are never copied. Any failure aborts the multipart upload.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.multipart import MAX_PARTS, MIN_PART, abort_upload, complete_once
from hlsforge_storage.s3 import PRECONDITION_CODES, ObjectStoreError, S3Objects, wrap

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

COPY_PART = 512 << 20
"""Bytes per copied part: 40 parts for a 20 GiB source, each well under S3's 5 GiB."""


class SourceChanged(Exception):  # noqa: N818 - a state, not a failure
    """The source no longer has the ETag that was validated."""


def part_ranges(size: int, part: int = COPY_PART) -> list[tuple[int, int]]:
    """Inclusive byte ranges covering ``size`` bytes; each but the last at least 5 MiB."""
    part = max(part, MIN_PART, -(-size // MAX_PARTS))
    return [(start, min(start + part, size) - 1) for start in range(0, size, part)]


def copy_new(objects: S3Objects, source: S3Uri, dest: S3Uri, size: int, etag: str) -> None:
    """Copy ``source`` (``size`` bytes, ETag ``etag``) to ``dest``. Raises ``AlreadyExists``
    when ``dest`` exists, ``SourceChanged``, or ``ObjectStoreError``; leaves no upload open."""
    client = objects.client
    try:
        upload_id = client.create_multipart_upload(Bucket=dest.bucket, Key=dest.key)["UploadId"]
    except (ClientError, BotoCoreError) as exc:
        raise wrap(exc, f"start copy to {dest}") from None

    def one(numbered: tuple[int, tuple[int, int]]) -> CompletedPartTypeDef:
        number, (first, last) = numbered
        answer = client.upload_part_copy(
            Bucket=dest.bucket,
            Key=dest.key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource={"Bucket": source.bucket, "Key": source.key},
            CopySourceRange=f"bytes={first}-{last}",
            CopySourceIfMatch=etag,
        )
        return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            parts = list(pool.map(one, enumerate(part_ranges(size), start=1)))
    except ClientError as exc:
        _abort(objects, dest, upload_id)
        if exc.response.get("Error", {}).get("Code") in PRECONDITION_CODES:
            raise SourceChanged(str(source)) from None
        raise wrap(exc, f"copy {source} to {dest}") from None
    except BotoCoreError as exc:
        _abort(objects, dest, upload_id)
        raise wrap(exc, f"copy {source} to {dest}") from None
    complete_once(client, dest, upload_id, parts)


def _abort(objects: S3Objects, dest: S3Uri, upload_id: str) -> None:
    # Best effort: an S3 lifecycle rule (AbortIncompleteMultipartUpload) catches what is left.
    with contextlib.suppress(ObjectStoreError):
        abort_upload(objects.client, dest, upload_id)
