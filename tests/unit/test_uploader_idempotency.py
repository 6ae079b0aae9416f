"""Idempotency keys: scoped, deterministic job names, replay vs reuse."""

from __future__ import annotations

import re

import pytest

from hlsforge_api.v1alpha1 import MAX_NAME_LENGTH
from hlsforge_uploader.errors import BadRequest, IdempotencyKeyReused
from hlsforge_uploader.uploads import idempotency as idem

DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_generated_ids_are_valid_unique_job_names() -> None:
    ids = {idem.new_upload_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(DNS_1123.match(i) and len(i) <= MAX_NAME_LENGTH for i in ids)


def test_a_key_maps_to_one_name_per_caller() -> None:
    a = idem.key_hash("token-a", "order-17")
    assert a == idem.key_hash("token-a", "order-17")
    assert a != idem.key_hash("token-b", "order-17")
    assert a != idem.key_hash("token-a", "order-18")
    name = idem.upload_id_for_key(a)
    assert DNS_1123.match(name) and len(name) <= MAX_NAME_LENGTH
    assert len(idem.label_value(a)) <= 63


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "tab\there", "é"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(BadRequest):
        idem.key_hash("t", key)


def test_fingerprint_depends_on_bytes_and_options_not_their_order() -> None:
    fp = idem.fingerprint("aa", {"a": 1, "b": [1, 2]})
    assert fp == idem.fingerprint("aa", {"b": [1, 2], "a": 1})
    assert fp != idem.fingerprint("ab", {"a": 1, "b": [1, 2]})
    assert fp != idem.fingerprint("aa", {"a": 2, "b": [1, 2]})


def test_replay_only_for_the_same_key_and_request() -> None:
    hashed, fp = idem.key_hash("t", "k"), idem.fingerprint("aa", {})
    annotations = {idem.ANNOTATION_KEY: hashed, idem.ANNOTATION_FINGERPRINT: fp}
    idem.check_replay(annotations, hashed, fp)  # no exception: the same job again
    with pytest.raises(IdempotencyKeyReused) as err:
        idem.check_replay(annotations, hashed, idem.fingerprint("bb", {}))
    assert err.value.status == 422
    with pytest.raises(IdempotencyKeyReused):
        idem.check_replay(None, hashed, fp)
