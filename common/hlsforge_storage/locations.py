"""Parse and check storage locations: pure, the only place that knows their syntax.

A location is either a path relative to the shared volume (``hls/abc``) or an S3 URI
(``s3://bucket/key``). Both refuse ``..``, empty and ``.`` segments, backslashes and control
characters; a volume path is also resolved strictly inside its root, symlinks included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SCHEME = "s3://"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


class LocationError(ValueError):
    """A location that can never be valid, or one that escapes its root."""


def _check_segments(what: str, value: str) -> None:
    if not value:
        raise LocationError(f"{what} is empty")
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise LocationError(f"{what} {value!r} contains a backslash or a control character")
    parts = value.rstrip("/").split("/")
    if value.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise LocationError(f"{what} {value!r} has an absolute, empty, '.' or '..' segment")


@dataclass(frozen=True, order=True)
class S3Uri:
    bucket: str
    key: str
    """No leading slash; a prefix is written without a trailing one."""

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def prefix(self) -> str:
        """The key as a folder: ``key/`` (what lists the objects below it)."""
        return self.key.rstrip("/") + "/"

    def child(self, relative: str) -> S3Uri:
        _check_segments("relative path", relative)
        return S3Uri(self.bucket, f"{self.prefix}{relative}")

    def relative_to(self, parent: S3Uri) -> str:
        if self.bucket != parent.bucket or not self.key.startswith(parent.prefix):
            raise LocationError(f"{self} is not below {parent}")
        return self.key[len(parent.prefix) :]


def is_s3(location: str) -> bool:
    return location.startswith(SCHEME)


def parse_s3_uri(value: str) -> S3Uri:
    """``s3://bucket/key`` -> ``S3Uri``; raises ``LocationError`` naming what is wrong."""
    if not is_s3(value):
        raise LocationError(f"{value!r} is not an s3:// URI")
    bucket, _, key = value[len(SCHEME) :].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket or _IP_LIKE.match(bucket):
        raise LocationError(f"{bucket!r} is not a valid S3 bucket name")
    _check_segments("S3 key", key)
    if len(key.encode()) > 1024:
        raise LocationError("S3 keys are at most 1024 bytes")
    return S3Uri(bucket, key.rstrip("/"))


def check_relative(value: str) -> str:
    """A volume location (or a path inside an output): relative, no escaping segments."""
    if is_s3(value):
        raise LocationError(f"{value} is an S3 URI, not a path on the volume")
    _check_segments("path", value)
    return value.rstrip("/")


def inside(root: Path, relative: str) -> Path:
    """``root/relative`` resolved (symlinks followed) strictly inside ``root``, or raise."""
    root = root.resolve()
    candidate = (root / check_relative(relative)).resolve()
    if candidate == root or root not in candidate.parents:
        raise LocationError(f"{relative!r} resolves outside {root}")
    return candidate
