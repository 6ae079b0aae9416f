"""Idempotency keys (IETF ``Idempotency-Key`` draft), with the Kubernetes API as the store.

A key is scoped to the caller's token and hashed; the TranscodeJob an upload creates is
*named* after that hash, so a retry finds it by name and two replicas racing on one key
collide on the name (AlreadyExists) instead of creating two jobs. The job also carries the
key's hash as a label (``kubectl get tj -l``) and the request's fingerprint (SHA-256 of the
file's bytes and of the canonical options) as an annotation:

- same key, same fingerprint  -> the same job again (a retry after a lost response);
- same key, other fingerprint -> 422 ``idempotency_key_reused``;
- same key while the first request is still streaming -> 409 ``idempotency_conflict``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from hlsforge_api.v1alpha1 import GROUP, MAX_NAME_LENGTH
from hlsforge_uploader.errors import BadRequest, IdempotencyKeyReused

LABEL_KEY = f"{GROUP}/idempotency-key"
ANNOTATION_KEY = f"{GROUP}/idempotency-key-sha256"
ANNOTATION_FINGERPRINT = f"{GROUP}/request-sha256"
LABEL_UPLOADED = f"{GROUP}/uploaded-by"
MAX_KEY_LENGTH = 255
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_NAME_PREFIX = "up-"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_upload_id() -> str:
    """A fresh job/upload name: ``up-`` + 20 random base32 characters (100 bits), DNS-1123."""
    return _NAME_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(20))


_UPLOAD_ID = re.compile(r"^up-(?:k[0-9a-f]{32}|[a-z2-7]{20})$")


def is_upload_id(name: str) -> bool:
    """A name this uploader gives uploads (``new_upload_id``, ``upload_id_for_key``)."""
    return _UPLOAD_ID.match(name) is not None


def key_hash(token: str, key: str) -> str:
    """SHA-256 (hex) of the key scoped to the caller, so callers never see each other's keys."""
    if not _KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1-255 printable ASCII characters")
    caller = hashlib.sha256(token.encode()).hexdigest()
    return hashlib.sha256(f"{caller}\0{key}".encode()).hexdigest()


def upload_id_for_key(hashed: str) -> str:
    """The job name a keyed upload gets: deterministic, so a retry and a racing replica meet."""
    name = f"{_NAME_PREFIX}k{hashed[:32]}"
    assert len(name) <= MAX_NAME_LENGTH
    return name


def label_value(hashed: str) -> str:
    return hashed[:63]


def fingerprint(body_sha256: str, options: dict[str, Any]) -> str:
    """One hash of what the request asked for: the file's bytes and its options."""
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{body_sha256}\0{canonical}".encode()).hexdigest()


def check_replay(annotations: dict[str, str] | None, hashed: str, request_fp: str) -> None:
    """Accept a retry of the request that created the job, or raise ``IdempotencyKeyReused``."""
    annotations = annotations or {}
    if annotations.get(ANNOTATION_KEY) != hashed:
        raise IdempotencyKeyReused(
            "a job with this upload's name exists but was not created with this Idempotency-Key"
        )
    if annotations.get(ANNOTATION_FINGERPRINT) != request_fp:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different file or different options"
        )
