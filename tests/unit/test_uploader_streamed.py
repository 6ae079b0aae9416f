"""A storage failure while the body is still streaming is a 507 ``storage_failed``, like one at
commit, never a bare 500; the partial upload is left for ``abort``."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest

from hlsforge_api.errors import StorageError
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import StorageFailed
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.uploads.streamed import Receiver

MP4_HEAD = b"\x00\x00\x00\x20ftypisom" + b"\x00" * 2000


class FullDisk:
    """A sink that takes the first write and then runs out of space."""

    def __init__(self) -> None:
        self.writes = 0
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.writes > 1:
            raise StorageError("UploadWriteFailed", "cannot write uploads/x.mp4: No space left")

    def abort(self) -> None:
        self.aborted = True


class Storage:
    def __init__(self, fail_at_begin: bool) -> None:
        self.fail_at_begin = fail_at_begin
        self.sink = FullDisk()

    def begin_upload(self, upload_id: str, extension: str) -> FullDisk:
        if self.fail_at_begin:
            raise StorageError("UploadCreateFailed", "cannot create uploads/x.mp4: read-only")
        return self.sink


def receiver(storage: Storage) -> Receiver:
    settings = UploaderSettings(write_buffer_bytes=64 * 1024)
    clients = cast(Clients, SimpleNamespace(storage=storage))
    return Receiver(clients, settings, "up-x", store=True, keyed=False)


@pytest.mark.parametrize("fail_at_begin", [True, False])
def test_a_storage_failure_mid_body_is_507_storage_failed(fail_at_begin: bool) -> None:
    storage = Storage(fail_at_begin)
    upload = receiver(storage)

    async def stream() -> None:
        await upload.take(MP4_HEAD)
        for _ in range(8):
            await upload.take(b"\x01" * 65536)
        await upload.finish()

    with pytest.raises(StorageFailed) as caught:
        asyncio.run(stream())
    assert (caught.value.status, caught.value.code) == (507, "storage_failed")
    assert ("read-only" if fail_at_begin else "No space left") in str(caught.value)
    asyncio.run(upload.abort())
    assert storage.sink.aborted is not fail_at_begin  # a sink that was never made needs none
