"""A full volume is reported as ``StorageError('NoSpace')`` (exit 4, retried), whatever symptom
it left (ffmpeg exits 0 with empty playlists on ENOSPC); kills, usage errors and failures with
space left keep their own reason."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from hlsforge_api.errors import (
    EncodeFailed,
    InvalidInput,
    Killed,
    StorageError,
    TranscodeError,
    UsageError,
    VerifyFailed,
)
from hlsforge_api.exitcodes import ExitCode
from hlsforge_transcoder import disk_space
from hlsforge_transcoder.disk_space import NO_SPACE_BYTES, free_bytes, full, storage_failure
from hlsforge_transcoder.fault_points import parse_pause


def _free(monkeypatch: pytest.MonkeyPatch, free: int | None) -> None:
    monkeypatch.setattr(disk_space, "free_bytes", lambda _path: free)


def test_free_bytes_of_a_real_folder_and_of_none() -> None:
    assert (free_bytes(Path("/")) or 0) > 0
    assert free_bytes(Path("/no/such/folder")) is None


@pytest.mark.parametrize(
    ("free", "expected"),
    [(None, False), (0, True), (NO_SPACE_BYTES - 1, True), (NO_SPACE_BYTES, False)],
)
def test_full_below_the_threshold_only(free: int | None, expected: bool) -> None:
    assert full(free) is expected


@pytest.mark.parametrize(
    "symptom",
    [
        VerifyFailed("OutputIncomplete", "360p/index.m3u8: playlist does not start with #EXTM3U"),
        EncodeFailed("FfmpegFailed", "ffmpeg exited with 1"),
        StorageError("WriteFailed", "ffmpeg could not write its output"),
        InvalidInput("SourceTruncated", "the source ends at 3.0 s but claims 20.0 s"),
    ],
)
def test_any_failure_on_a_full_volume_is_no_space_and_retried(
    monkeypatch: pytest.MonkeyPatch, symptom: TranscodeError
) -> None:
    _free(monkeypatch, 4096)
    failure = storage_failure(Path("/work/out.tmp-x"), symptom)
    assert isinstance(failure, StorageError)
    assert (failure.reason, failure.exit_code) == ("NoSpace", ExitCode.STORAGE)
    assert failure.exit_code.retryable
    assert "full (4096 bytes free)" in failure.message and symptom.message in failure.message


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_an_enospc_write_is_no_space_even_when_space_came_back(
    monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    _free(monkeypatch, 10 << 30)
    failure = storage_failure(Path("/work/t"), OSError(code, "No space left on device"))
    assert failure is not None and failure.reason == "NoSpace"


def test_other_write_errors_stay_write_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    _free(monkeypatch, 10 << 30)
    failure = storage_failure(Path("/work/t"), OSError(errno.EIO, "Input/output error"))
    assert failure is not None and failure.reason == "WriteFailed"


@pytest.mark.parametrize(
    "exc", [Killed("Terminated", "received SIGTERM"), UsageError("Refused", "no")]
)
def test_kills_and_usage_errors_are_never_relabelled(
    monkeypatch: pytest.MonkeyPatch, exc: TranscodeError
) -> None:
    _free(monkeypatch, 0)
    assert storage_failure(Path("/work/t"), exc) is None


def test_a_failure_with_space_left_keeps_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    _free(monkeypatch, 10 << 30)
    assert storage_failure(Path("/work/t"), VerifyFailed("OutputIncomplete", "x")) is None
    _free(monkeypatch, None)  # unknown free space: no guess
    assert storage_failure(Path("/work/t"), VerifyFailed("OutputIncomplete", "x")) is None


def test_the_finalize_pause_point_is_known() -> None:
    pause = parse_pause("before-finalize:15")
    assert pause is not None and pause.point == "before-finalize"
