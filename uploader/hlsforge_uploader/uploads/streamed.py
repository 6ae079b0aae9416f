"""One streamed upload, from the first body byte to its TranscodeJob: the imperative shell
around ``body`` (the pure rules). Every failure path removes what was written.

The body arrives as an async iterator of chunks (``request.stream()``), raw or through the
streaming form reader (``form``); batches go to storage in a worker thread; once the body ended
the sink is finished, ffprobe checks what it wrote with the engine's rules (a local file or a
presigned URL: ``UploadSink.probe_input``); then the upload is committed under its generated
name (never replacing anything) and its job created (``acceptance``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from anyio import to_thread

from hlsforge_api.errors import StorageError
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import IdempotencyConflict, StorageFailed, UploadStalled
from hlsforge_uploader.k8s import JobExists
from hlsforge_uploader.models import UploadOptions
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.storage.interface import AlreadyCommitted, UploadSink
from hlsforge_uploader.uploads import idempotency as idem
from hlsforge_uploader.uploads.acceptance import create_job, get_job, probe, reserve, unreserve
from hlsforge_uploader.uploads.body import Ingest
from hlsforge_uploader.uploads.form import MultipartReader
from hlsforge_uploader.uploads.rate_floor import RateFloor, TooSlowError
from hlsforge_uploader.uploads.recovery import JobSpec, Same, take_over

Obj = dict[str, Any]


class Receiver:
    """One upload in flight: owns its sink, so every failure path removes the partial file."""

    def __init__(
        self,
        clients: Clients,
        settings: UploaderSettings,
        upload_id: str,
        store: bool,
        keyed: bool,
        owner: str | None = None,
    ) -> None:
        self.clients = clients
        self.owner = owner
        """The name of the token uploading (the job's ``hlsforge.io/token`` label)."""
        self.upload_id = upload_id
        self.store = store
        self.ingest = Ingest(settings.max_upload_bytes, settings.write_buffer_bytes, digest=keyed)
        self.takeover_s = settings.idempotency_takeover_seconds
        self.sink: UploadSink | None = None

    async def take(self, data: bytes) -> None:
        await self._write(self.ingest.feed(data))

    async def finish(self) -> None:
        await self._write(self.ingest.finish())

    async def _write(self, batches: list[bytes]) -> None:
        if not self.store or not self.ingest.ready_to_store:
            return
        try:
            if self.sink is None:
                extension = self.ingest.extension
                self.sink = await to_thread.run_sync(
                    self.clients.storage.begin_upload, self.upload_id, extension
                )
            for batch in batches:
                await to_thread.run_sync(self.sink.write, batch)
        except StorageError as exc:  # disk full, permissions, the object store: 507, not 500
            raise StorageFailed(exc.message) from None

    async def abort(self) -> None:
        if self.sink is not None:
            await to_thread.run_sync(self.sink.abort)


async def receive(
    body: AsyncIterator[bytes],
    receiver: Receiver,
    reader: MultipartReader | None,
    window_s: float | None = None,
    min_bytes_per_s: float = 0,
) -> None:
    """Consume the whole body; raises the first ``ApiError`` a rule raises (413, 422, 400),
    or ``UploadStalled`` when a window of ``window_s`` seconds brings less than
    ``min_bytes_per_s`` on average (``rate_floor``): a client that trickles, or stops, cannot
    keep a connection and a partial file open."""
    metrics = receiver.clients.metrics
    chunks = aiter(body)
    floor = RateFloor(min_bytes_per_s, window_s, time.monotonic()) if window_s else None
    # One read stays pending across window ends: cancelling a read of the request body
    # would end the body's stream, and a cut body must never look like a whole one.
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(chunks))
            done, _ = await asyncio.wait(
                {pending}, timeout=floor.wait(time.monotonic()) if floor else None
            )
            try:
                if not done:
                    assert floor is not None
                    floor.close_windows(time.monotonic())
                    continue
                read, pending = pending, None
                try:
                    chunk = read.result()
                except StopAsyncIteration:
                    break
                if floor is not None:
                    floor.add(len(chunk), time.monotonic())
            except TooSlowError as exc:
                raise UploadStalled(f"{exc}; the partial upload was removed") from None
            metrics.upload_bytes.inc(len(chunk))
            if reader is None:
                await receiver.take(chunk)
            else:
                for part in reader.feed(chunk):
                    await receiver.take(part)
    finally:
        if pending is not None:
            pending.cancel()
    if reader is not None:
        reader.finish()
    await receiver.finish()


async def complete(
    receiver: Receiver,
    clients: Clients,
    opts: UploadOptions,
    hashed: str | None,
    existing: dict[str, Any] | None,
) -> tuple[Obj, bool]:
    """Replay (same key and request), or probe, commit and create the job.
    Returns the TranscodeJob and whether it is a replay."""
    request_fp: str | None = None
    if hashed is not None:
        request_fp = idem.fingerprint(receiver.ingest.digest(), opts.model_dump(mode="json"))
    if existing is not None:
        assert hashed is not None and request_fp is not None
        idem.check_replay(existing["metadata"].get("annotations"), hashed, request_fp)
        clients.metrics.uploads.labels("replayed").inc()
        return existing, True

    sink = receiver.sink
    assert sink is not None and receiver.ingest.sniffed is not None
    container = receiver.ingest.sniffed.container
    upload_id = receiver.upload_id
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if hashed is not None and request_fp is not None:
        labels[idem.LABEL_KEY] = idem.label_value(hashed)
        annotations[idem.ANNOTATION_KEY] = hashed
        annotations[idem.ANNOTATION_FINGERPRINT] = request_fp
    spec = JobSpec(opts, labels, annotations, receiver.owner, receiver.ingest.received)
    # Reserved before the file takes its final name: a stored file always has a reservation,
    # whose age tells a retry whether the request that stored it is gone (``recovery``).
    made = await reserve(clients, sink.location, upload_id)
    try:
        await to_thread.run_sync(sink.finish)
        await to_thread.run_sync(lambda: probe(clients.prober, sink.probe_input(), container))
        location = await to_thread.run_sync(sink.commit)
    except AlreadyCommitted:
        return await raced(clients, receiver, spec, hashed, request_fp)
    except BaseException as exc:
        if made:
            await unreserve(clients, sink.location, upload_id)
        if isinstance(exc, StorageError):
            raise StorageFailed(exc.message) from None
        raise
    try:
        created = await create_job(
            clients,
            upload_id,
            location,
            opts,
            labels,
            annotations,
            owner=receiver.owner,
            source_bytes=receiver.ingest.received,
        )
    except JobExists:
        return await raced(clients, receiver, spec, hashed, request_fp)
    return created, False


async def raced(
    clients: Clients,
    receiver: Receiver,
    spec: JobSpec,
    hashed: str | None,
    request_fp: str | None,
) -> tuple[Obj, bool]:
    """This keyed upload's name is taken: a replay if its job exists and is the same request;
    else the stored file is another request's still in flight (409), or a cut-off one's,
    finished here (``recovery.take_over``)."""
    upload_id = receiver.upload_id
    found = await get_job(clients, upload_id)
    if hashed is None or request_fp is None:
        raise IdempotencyConflict("a request with this Idempotency-Key is still in progress")
    if found is None:
        sniffed = receiver.ingest.sniffed
        assert receiver.sink is not None and sniffed is not None
        same = Same(receiver.ingest.digest(), sniffed.container)
        location = receiver.sink.location
        try:
            created = await take_over(clients, receiver.takeover_s, upload_id, location, spec, same)
        except JobExists:
            found = await get_job(clients, upload_id)
        else:
            return created, False
        if found is None:
            raise IdempotencyConflict("a request with this Idempotency-Key is still in progress")
    idem.check_replay(found["metadata"].get("annotations"), hashed, request_fp)
    clients.metrics.uploads.labels("replayed").inc()
    return found, True
