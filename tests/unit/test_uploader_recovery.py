"""A stored upload without its job: when a retry takes it over, when the sweep deletes it,
and the settings that keep the two apart (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hlsforge_storage.claims import RESERVED, ClaimRecord
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.uploads import idempotency as idem
from hlsforge_uploader.uploads.orphans import is_orphan, upload_name
from hlsforge_uploader.uploads.recovery import cut_off, reserved_for

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def record(
    name: str = "up-x", uid: str = RESERVED, age_s: float = 0, ns: str = "ns"
) -> ClaimRecord:
    return ClaimRecord(
        kind="source",
        location=f"uploads/{name}.mp4",
        namespace=ns,
        name=name,
        uid=uid,
        created_at=NOW - timedelta(seconds=age_s),
    )


def test_a_retry_takes_over_only_a_reservation_older_than_the_takeover_time() -> None:
    assert not cut_off(record(age_s=119), NOW, 120)
    assert cut_off(record(age_s=120), NOW, 120)
    assert not cut_off(None, NOW, 120)  # a file no upload reserved is never adopted


def test_a_reservation_belongs_to_one_job_name_in_one_namespace() -> None:
    assert reserved_for(record(), "ns", "up-x")
    assert not reserved_for(record(), "ns", "up-y")
    assert not reserved_for(record(), "other", "up-x")
    assert not reserved_for(record(uid="0b7c-uid"), "ns", "up-x")  # adopted by its job


def test_the_sweep_takes_only_old_unadopted_reservations_of_the_same_name() -> None:
    assert is_orphan(record(age_s=3601), "ns", "up-x", NOW, 3600)
    assert not is_orphan(record(age_s=3599), "ns", "up-x", NOW, 3600)
    assert not is_orphan(record(uid="0b7c-uid", age_s=9999), "ns", "up-x", NOW, 3600)
    assert not is_orphan(record(age_s=9999), "ns", "up-y", NOW, 3600)
    assert not is_orphan(record(age_s=9999, ns="other"), "ns", "up-x", NOW, 3600)
    assert not is_orphan(None, "ns", "up-x", NOW, 3600)


def test_only_names_the_uploader_gives_are_uploads() -> None:
    assert idem.is_upload_id(idem.new_upload_id())
    assert idem.is_upload_id(idem.upload_id_for_key("ab" * 32))
    for other in ("mine", "up-", "up-K" + "0" * 32, "up-abc", "up-" + "a" * 21, "../up-x"):
        assert not idem.is_upload_id(other)
    assert upload_name("uploads/up-abc.mp4") == "up-abc"
    assert upload_name("s3://media/uploads/up-abc.mkv") == "up-abc"


def test_the_grace_outlasts_the_takeover_and_a_live_upload_s_silence() -> None:
    UploaderSettings(orphan_grace_seconds=3600)
    with pytest.raises(ValidationError, match="IDEMPOTENCY_TAKEOVER"):
        UploaderSettings(orphan_grace_seconds=100, idempotency_takeover_seconds=120)
    # 60 s window + 1 MiB at 8 KiB/s = 188 s without a write to a live upload's partial file.
    with pytest.raises(ValidationError, match="partial file"):
        UploaderSettings(orphan_grace_seconds=150, idempotency_takeover_seconds=10)
    UploaderSettings(orphan_grace_seconds=200, idempotency_takeover_seconds=10)
