"""A store that cannot answer for now (unreachable, 5xx, throttled) is told apart from a
verdict on the media: ``StorageError(transient=True)``, which the operator asks again about
instead of failing the job (fault table row 7.3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from hlsforge_api.errors import StorageError
from hlsforge_output.tree import TreeError
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import ObjectInfo, ObjectStoreError, S3Objects
from hlsforge_storage.s3_commit import read_commit
from hlsforge_storage.s3_tree import S3Tree


class Failing:
    """Stands in for ``S3Objects``: every call raises ``ObjectStoreError(code)``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def listing(self, prefix: S3Uri) -> Iterator[ObjectInfo]:
        raise ObjectStoreError(self.code, f"LIST {prefix}")

    def size(self, uri: S3Uri) -> int | None:
        raise ObjectStoreError(self.code, f"HEAD {uri}")


def _objects(code: str) -> S3Objects:
    return cast(S3Objects, Failing(code))


@pytest.mark.parametrize("code", ["Network", "SlowDown", "ServiceUnavailable", "503", "500"])
def test_an_unreachable_or_failing_store_is_transient(code: str) -> None:
    assert ObjectStoreError(code, "x").transient
    with pytest.raises(StorageError) as caught:
        S3Tree(_objects(code), S3Uri("media", "hls/a/v1")).sizes()
    assert caught.value.transient and caught.value.reason == "ObjectStoreFailed"
    with pytest.raises(StorageError) as read:
        read_commit(_objects(code), S3Uri("media", "hls/a"))
    assert read.value.transient


@pytest.mark.parametrize("code", ["AccessDenied", "NoSuchBucket", "InvalidRange"])
def test_a_refusal_is_no_outage(code: str) -> None:
    assert not ObjectStoreError(code, "x").transient
    with pytest.raises(TreeError):  # the tree cannot be read: verify fails it
        S3Tree(_objects(code), S3Uri("media", "hls/a/v1")).sizes()
    with pytest.raises(StorageError) as read:
        read_commit(_objects(code), S3Uri("media", "hls/a"))
    assert not read.value.transient


def test_storage_errors_are_not_transient_unless_said() -> None:
    error: Any = StorageError("DeleteFailed", "x")
    assert error.transient is False and error.final is False
