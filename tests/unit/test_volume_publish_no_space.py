"""Publishing a committed attempt onto a full volume is ``NoSpace`` and ``transient``: the
operator asks again once space is back instead of failing a finished job (row 6.2), and the
attempt's output stays in its work folder meanwhile."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from hlsforge_api.errors import StorageError
from hlsforge_storage.volume_commit import commit
from hlsforge_storage.volume_store import VolumeStore
from tests.unit.test_operator_volume_store import make_output
from tests.unit.test_transcoder_verify import GOOD

FULL = OSError(errno.ENOSPC, "No space left on device")


def _raise_full(*_args: object, **_kwargs: object) -> None:
    raise FULL


def test_a_full_volume_at_publish_is_transient_and_keeps_the_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VolumeStore(tmp_path)
    finished = tmp_path / ".hlsforge" / "work" / "uid-1" / "out"
    make_output(finished, GOOD)
    with monkeypatch.context() as patched:
        patched.setattr(Path, "mkdir", _raise_full)
        with pytest.raises(StorageError) as caught:
            store.verify("hls/show/a", "uid-1")
    assert (caught.value.reason, caught.value.transient) == ("NoSpace", True)
    assert "full" in caught.value.message
    assert (finished / "master.m3u8").exists()
    outputs = store.verify("hls/show/a", "uid-1")  # space is back
    assert outputs.master_playlist == "hls/show/a/master.m3u8"


def test_a_rename_without_space_is_no_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t").mkdir()
    monkeypatch.setattr(Path, "rename", _raise_full)
    with pytest.raises(StorageError) as caught:
        commit(tmp_path / "t", tmp_path / "d")
    assert (caught.value.reason, caught.value.transient) == ("NoSpace", True)


def test_other_publish_errors_stay_final(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = VolumeStore(tmp_path)
    make_output(tmp_path / ".hlsforge" / "work" / "uid-1" / "out", GOOD)

    def _eio(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "mkdir", _eio)
    with pytest.raises(StorageError) as caught:
        store.verify("hls/show/a", "uid-1")
    assert (caught.value.reason, caught.value.transient) == ("PublishFailed", False)
