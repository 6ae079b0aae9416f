"""The S3 side of storage (boto3): the few object operations hlsforge needs, over ``S3Uri``.

Every call maps boto3's errors to ``ObjectStoreError`` (with the S3 error code), so callers
never import botocore. Deletes are idempotent; conditional writes (``If-None-Match: *``)
return False instead of raising when the key already exists.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.media_types import content_type
from hlsforge_storage.s3config import S3Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
PRECONDITION_CODES = frozenset({"412", "PreconditionFailed", "ConditionalRequestConflict"})
TRANSIENT_CODES = frozenset(
    {"Network", "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
     "Throttling", "500", "502", "503", "504"}
)  # fmt: skip
"""What a store answers when it cannot serve for now (after boto's own retries)."""


class ObjectStoreError(Exception):
    """An S3 call failed; ``code`` is the S3 error code (``AccessDenied``...) or ``Network``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code

    @property
    def missing(self) -> bool:
        """The key (or object) does not exist."""
        return self.code in MISSING_CODES

    @property
    def transient(self) -> bool:
        """The store was unreachable, failing or throttling: asking later can succeed."""
        return self.code in TRANSIENT_CODES


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def wrap(exc: Exception, what: str) -> ObjectStoreError:
    if isinstance(exc, ClientError):
        return ObjectStoreError(_code(exc), f"{what}: {exc}")
    return ObjectStoreError("Network", f"{what}: {exc}")


def make_client(
    config: S3Config, *, public: bool = False, session: boto3.session.Session | None = None
) -> S3Client:
    """A client for ``config``; ``public`` signs URLs for the endpoint browsers reach. The
    credentials come from ``session`` (default: a new one, so the default chain)."""
    endpoint = (config.public_endpoint or config.endpoint) if public else config.endpoint
    botocfg = Config(
        signature_version="s3v4",
        region_name=config.region,
        retries={"max_attempts": config.max_attempts, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        s3={"addressing_style": config.addressing},  # type: ignore[arg-type]
        max_pool_connections=32,
        # Checksums only where asked (boto3 >= 1.36 would add CRC32 to every upload, which
        # several S3-compatible servers refuse on presigned and multipart requests).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = session or boto3.session.Session()
    client: S3Client = session.client("s3", endpoint_url=endpoint, config=botocfg)
    return client


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


def hex_to_b64(digest_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(digest_hex)).decode()


def b64_to_hex(digest_b64: str) -> str | None:
    try:
        return base64.b64decode(digest_b64, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


class S3Objects:
    """Object operations through one client (thread-safe; share it)."""

    def __init__(self, client: S3Client, config: S3Config, public: S3Client | None = None) -> None:
        self.client = client
        self.config = config
        self.public = public or client

    @classmethod
    def from_config(
        cls, config: S3Config, session: boto3.session.Session | None = None
    ) -> S3Objects:
        session = session or boto3.session.Session()
        public = make_client(config, public=True, session=session)
        return cls(make_client(config, session=session), config, public)

    def size(self, uri: S3Uri) -> int | None:
        """The object's size, or None when it does not exist."""
        try:
            return self.client.head_object(Bucket=uri.bucket, Key=uri.key)["ContentLength"]
        except ClientError as exc:
            if _code(exc) in MISSING_CODES:
                return None
            raise wrap(exc, f"HEAD {uri}") from None
        except BotoCoreError as exc:
            raise wrap(exc, f"HEAD {uri}") from None

    def sha256(self, uri: S3Uri) -> str | None:
        """The SHA-256 (hex) S3 checked on upload, or None when it has none."""
        try:
            head = self.client.head_object(Bucket=uri.bucket, Key=uri.key, ChecksumMode="ENABLED")
        except (ClientError, BotoCoreError) as exc:
            raise wrap(exc, f"HEAD {uri}") from None
        value = head.get("ChecksumSHA256")
        return b64_to_hex(value) if value and "-" not in value else None

    def read(self, uri: S3Uri, *, start: int = 0, length: int | None = None) -> bytes:
        """The object's bytes (or a range); ``ObjectStoreError('NoSuchKey')`` when missing."""
        extra: dict[str, Any] = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            extra["Range"] = f"bytes={start}-{end}"
        try:
            body = self.client.get_object(Bucket=uri.bucket, Key=uri.key, **extra)["Body"]
            with body:
                return body.read()
        except ClientError as exc:
            if _code(exc) == "InvalidRange":
                return b""
            raise wrap(exc, f"GET {uri}") from None
        except BotoCoreError as exc:
            raise wrap(exc, f"GET {uri}") from None

    def put(
        self,
        uri: S3Uri,
        body: bytes | Path,
        *,
        sha256_hex: str | None = None,
        content_type: str | None = None,
        if_none_match: bool = False,
        cache_control: str | None = None,
    ) -> bool:
        """Write one object. With ``sha256_hex`` S3 refuses bytes that do not match it; with
        ``if_none_match`` an existing key is left alone and False is returned."""
        extra: dict[str, Any] = {}
        if sha256_hex:
            extra["ChecksumSHA256"] = hex_to_b64(sha256_hex)
        if content_type:
            extra["ContentType"] = content_type
        if cache_control:
            extra["CacheControl"] = cache_control
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        try:
            if isinstance(body, Path):
                with body.open("rb") as handle:
                    self.client.put_object(Bucket=uri.bucket, Key=uri.key, Body=handle, **extra)
            else:
                self.client.put_object(Bucket=uri.bucket, Key=uri.key, Body=body, **extra)
        except ClientError as exc:
            if if_none_match and _code(exc) in PRECONDITION_CODES:
                return False
            raise wrap(exc, f"PUT {uri}") from None
        except (BotoCoreError, OSError) as exc:
            raise wrap(exc, f"PUT {uri}") from None
        return True

    def download(self, uri: S3Uri, path: Path) -> None:
        """Ranged, parallel download to ``path`` (boto3's transfer manager)."""
        config = TransferConfig(multipart_chunksize=16 << 20, max_concurrency=8)
        try:
            self.client.download_file(uri.bucket, uri.key, str(path), Config=config)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise wrap(exc, f"download {uri}") from None

    def listing(self, prefix: S3Uri) -> Iterator[ObjectInfo]:
        """Every object below ``prefix/`` (paginated)."""
        pages = self.client.get_paginator("list_objects_v2")
        try:
            for page in pages.paginate(Bucket=prefix.bucket, Prefix=prefix.prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"], item["Size"], item["LastModified"])
        except (ClientError, BotoCoreError) as exc:
            raise wrap(exc, f"LIST {prefix}") from None

    def delete(self, uri: S3Uri) -> bool:
        """Delete one object; True if it existed (a missing one is the goal reached)."""
        existed = self.size(uri) is not None
        try:
            self.client.delete_object(Bucket=uri.bucket, Key=uri.key)
        except (ClientError, BotoCoreError) as exc:
            raise wrap(exc, f"DELETE {uri}") from None
        return existed

    def delete_keys(self, bucket: str, keys: list[str]) -> int:
        """Batch-delete ``keys`` (1000 per request); returns how many were asked."""
        for start in range(0, len(keys), 1000):
            batch: list[ObjectIdentifierTypeDef] = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                answer = self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except (ClientError, BotoCoreError) as exc:
                raise wrap(exc, f"DELETE {len(batch)} objects in {bucket}") from None
            errors = [e for e in answer.get("Errors", []) if e.get("Code") not in MISSING_CODES]
            if errors:
                first = errors[0]
                raise ObjectStoreError(
                    str(first.get("Code")), f"cannot delete {first.get('Key')}: {first}"
                )
        return len(keys)

    def delete_prefix(self, prefix: S3Uri) -> int:
        return self.delete_keys(prefix.bucket, [o.key for o in self.listing(prefix)])

    def upload_tree(
        self, files: dict[str, Path | bytes], root: S3Uri, sums: dict[str, str]
    ) -> None:
        """Upload ``files`` (relative name -> local file) below ``root`` in parallel, each with
        its SHA-256 so S3 itself refuses a corrupted transfer."""

        def one(rel: str) -> None:
            self.put(root.child(rel), files[rel], sha256_hex=sums.get(rel),
                     content_type=content_type(rel))  # fmt: skip

        with ThreadPoolExecutor(max_workers=16) as pool:
            for _ in pool.map(one, sorted(files)):
                pass

    def presign_get(self, uri: S3Uri, seconds: int | None = None, *, public: bool = True) -> str:
        client = self.public if public else self.client
        return client.generate_presigned_url(
            "get_object",
            Params={"Bucket": uri.bucket, "Key": uri.key},
            ExpiresIn=seconds or self.config.presign_seconds,
        )

    def presign_put(
        self,
        uri: S3Uri,
        seconds: int | None = None,
        *,
        if_none_match: bool = False,
        content_length: int | None = None,
    ) -> str:
        """A PUT URL for the public endpoint; ``if_none_match`` signs ``If-None-Match: *`` in,
        so the object can be written once and never replaced through it; ``content_length``
        signs ``Content-Length`` in, so the body must be exactly that many bytes."""
        params: dict[str, Any] = {"Bucket": uri.bucket, "Key": uri.key}
        if if_none_match:
            params["IfNoneMatch"] = "*"
        if content_length is not None:
            params["ContentLength"] = content_length
        return self.public.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=seconds or self.config.presign_seconds
        )
