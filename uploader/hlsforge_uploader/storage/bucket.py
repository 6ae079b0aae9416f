"""A bucket as storage: streamed multipart uploads in, committed HLS out.

Why an upload is completed *before* ffprobe reads it, not after: S3 has no rename, and the
parts of an unfinished multipart upload cannot be read, so the bytes must become an object to
be probed; copying them to their final key afterwards would read and write every byte twice.
So the upload is completed straight at its final key ``uploads/<id>.<ext>`` with
``If-None-Match: *`` (it never replaces an object: a concurrent upload of the same key loses
with ``AlreadyCommitted``), probed through a presigned URL, and deleted by ``abort`` if
anything fails before ``commit``. That object is still no job's source until then: the key is
unguessable, no TranscodeJob names it before the probe passed, and the operator only ever
reads sources that a job names. A process killed between completion and the job's creation
leaves one orphan object, which an S3 lifecycle rule on the uploads prefix expires (see
``docs/uploader.md``).

Memory per upload is bounded by about three parts (``HLSFORGE_S3_PART_BYTES``; the writer
copies a full part before sending it): parts leave while the body is still arriving.

Locations, source deletes and the commit lookups of delivery go through the operator's own
``hlsforge_storage.s3_store.S3Store`` over the same client.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from starlette.responses import Response

from hlsforge_api.errors import StorageError
from hlsforge_media.media_input import MediaInput, s3_object_input
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.multipart import AlreadyExists, MultipartWriter, abort_stale
from hlsforge_storage.s3 import ObjectStoreError, S3Objects, wrap
from hlsforge_storage.s3_store import S3Store
from hlsforge_uploader.delivery.from_bucket import S3Delivery
from hlsforge_uploader.errors import NotFound
from hlsforge_uploader.storage.interface import AlreadyCommitted

log = logging.getLogger("hlsforge.uploader.s3")

PROBE_URL_SECONDS = 600
"""Lifetime of the presigned URL ffprobe reads an upload through (the probe is bounded to
far less by the engine's limits)."""


def probe_input(objects: S3Objects, uri: S3Uri) -> MediaInput:
    """An object as ffprobe input (see ``hlsforge_media.media_input.s3_object_input``)."""
    return s3_object_input(objects, uri, PROBE_URL_SECONDS)


class S3Upload:
    """One streamed upload: writing -> completed (probe-able) -> committed, or aborted.

    Each batch goes to the shared ``MultipartWriter``, which uploads a part whenever one is
    full; the request body is not read while a part is sent, so a slow store slows the
    client down (TCP backpressure) instead of growing memory. Sending the next part while
    the body keeps arriving (one part in flight in a worker thread) was measured and dropped:
    on the benchmark machine, which is CPU-bound, it gained nothing and cost 25-40 MB of peak
    RSS (``docs/uploader.md``).
    """

    def __init__(self, objects: S3Objects, uri: S3Uri, part_bytes: int) -> None:
        self.objects = objects
        self.uri = uri
        self.location = str(uri)
        self.writer = MultipartWriter(objects.client, uri, part_bytes)
        self.state: Literal["writing", "completed", "committed", "aborted", "lost"] = "writing"

    def write(self, data: bytes) -> None:
        assert self.state == "writing", f"write when {self.state}"
        try:
            self.writer.write(data)
        except ObjectStoreError as exc:
            raise StorageError("UploadWriteFailed", f"cannot upload to {self.uri}: {exc}") from None

    def finish(self) -> None:
        assert self.state == "writing", f"finish when {self.state}"
        try:
            self.writer.complete()
        except AlreadyExists:
            self.state = "lost"  # the object is another request's: never delete it
            raise AlreadyCommitted(self.location) from None
        except ObjectStoreError as exc:
            self.abort()
            raise StorageError(
                "UploadCompleteFailed", f"cannot complete {self.uri}: {exc}"
            ) from None
        self.state = "completed"

    def probe_input(self) -> MediaInput:
        assert self.state == "completed", "finish first"
        return probe_input(self.objects, self.uri)

    def commit(self) -> str:
        if self.state == "writing":
            self.finish()
        assert self.state == "completed", f"commit when {self.state}"
        self.state = "committed"
        return self.location

    def abort(self) -> None:
        """Best effort and never raising (it runs while another error propagates): what a
        network failure leaves is aborted by the orphan sweep (``remove_stale_partials``)."""
        if self.state not in ("writing", "completed"):
            return  # handed over, another request's, or already aborted
        state, self.state = self.state, "aborted"
        try:
            if state == "writing":
                self.writer.abort()
            else:
                self.objects.delete(self.uri)
        except ObjectStoreError as exc:
            log.warning("could not remove the failed upload %s: %s", self.uri, exc)


class S3Storage:
    """Sources under ``s3://<bucket>/<uploads_dir>/``, outputs under ``<output_dir>/``."""

    def __init__(
        self,
        objects: S3Objects,
        bucket: str,
        uploads_dir: str = "uploads",
        output_dir: str = "hls",
        part_bytes: int = 8 << 20,
        delivery_mode: Literal["proxy", "redirect"] = "proxy",
    ) -> None:
        self.objects = objects
        self.store = S3Store(objects)
        self.bucket = bucket
        self.uploads_dir = uploads_dir.strip("/")
        self.output_dir = output_dir.strip("/")
        self.part_bytes = part_bytes
        self.delivery = S3Delivery(self.store, delivery_mode)

    def source_uri(self, upload_id: str, extension: str) -> S3Uri:
        return S3Uri(self.bucket, f"{self.uploads_dir}/{upload_id}.{extension}")

    def begin_upload(self, upload_id: str, extension: str) -> S3Upload:
        return S3Upload(self.objects, self.source_uri(upload_id, extension), self.part_bytes)

    def output_location(self, upload_id: str) -> str:
        return str(S3Uri(self.bucket, f"{self.output_dir}/{upload_id}"))

    def ours(self, location: str) -> S3Uri:
        """``location`` as a URI in this bucket; ``StorageError`` for anything else."""
        uri = self.store.uri(location)
        if uri.bucket != self.bucket:
            raise StorageError("OutsideBucket", f"{location} is not in the bucket {self.bucket}")
        return uri

    def delete(self, location: str) -> bool:
        self.ours(location)  # never an object of another bucket
        return self.store.delete_source(location)

    def committed_input(self, location: str) -> MediaInput:
        return probe_input(self.objects, self.ours(location))

    def source_digest(self, location: str) -> str | None:
        uri = self.ours(location)
        digest = hashlib.sha256()
        try:
            body = self.objects.client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
            with body:
                for block in body.iter_chunks(1 << 20):
                    digest.update(block)
        except (ClientError, BotoCoreError) as exc:
            failure = wrap(exc, f"GET {uri}")
            if failure.missing:
                return None
            raise StorageError("ReadFailed", str(failure)) from None
        return digest.hexdigest()

    def source_locations(self, limit: int) -> list[str]:
        area = S3Uri(self.bucket, self.uploads_dir)
        found: list[str] = []
        try:
            for info in self.objects.listing(area):
                if "/" not in info.key.removeprefix(area.prefix):  # not direct/<id>/...
                    found.append(str(S3Uri(self.bucket, info.key)))
                    if len(found) >= limit:
                        break
        except ObjectStoreError as exc:
            raise StorageError("ListFailed", str(exc)) from None
        return found

    def remove_stale_partials(self, written_before: float) -> int:
        """Unfinished multipart uploads of streamed uploads nothing wrote to since
        ``written_before``: an abort that failed because the store was down (fault row 7.1).
        Direct uploads' parts (``uploads/direct/``) are their client's, left to its expiry."""
        area = S3Uri(self.bucket, self.uploads_dir)
        try:
            return abort_stale(self.objects.client, area, written_before)
        except ObjectStoreError as exc:
            raise StorageError("ListFailed", str(exc)) from None

    def deliver(self, output: str, relative: str, range_header: str | None) -> Response:
        try:
            root = self.ours(output)
        except StorageError:
            raise NotFound("this job's output is not in this uploader's bucket") from None
        return self.delivery.respond(root, relative, range_header)

    def free_bytes(self) -> int | None:
        return None  # a bucket has no size to fill

    def ready(self) -> bool:
        try:
            self.objects.client.head_bucket(Bucket=self.bucket)
        except Exception:  # any failure means "not ready"; the kubelet asks again
            return False
        return True
