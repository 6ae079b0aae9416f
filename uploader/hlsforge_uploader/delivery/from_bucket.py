"""Serving a job's committed HLS from S3, through the uploader or by presigned URLs.

Only what a commit record names is ever read: the transcoder writes each attempt into its own
version folder and commits one with ``<output>/commit.json`` (``s3_commit``), so every key
served here is ``<output>/<committed version>/<checked path>``; a version no record names (an
attempt that died, a loser of a race) is unreachable, and an output without a record is 404.
A record is never rewritten, so it is cached; when a file is missing under a cached version
(the output was deleted, the job re-created and re-committed) the record is read again once.
The record is read by ``S3Store.committed_root``, the operator's own lookup.

- ``proxy``: every file streams through this process with the volume mode's headers
  (``rules.headers``) and a single ``Range`` (206); memory stays at one chunk per request.
- ``redirect``: playlists and cue files are answered here, rewritten (``playlists``) so that
  segments and images are fetched from S3 with presigned URLs for the public endpoint; any
  other file is a 302 to such a URL. Presigned URLs are credentials: those answers are
  ``private, no-store``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from anyio import to_thread
from botocore.exceptions import BotoCoreError, ClientError
from starlette.responses import RedirectResponse, Response, StreamingResponse

from hlsforge_api.errors import TranscodeError
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import ObjectStoreError, wrap
from hlsforge_storage.s3_store import S3Store
from hlsforge_uploader.delivery import playlists, ranges, rules
from hlsforge_uploader.errors import NotFound, RangeNotSatisfiable, StorageUnavailable

if TYPE_CHECKING:
    from botocore.response import StreamingBody

CHUNK = 256 * 1024
"""Bytes read from S3 per step of a proxied response."""
MAX_INDEX_BYTES = 16 << 20
"""Largest playlist or cue file rewritten in memory."""
CACHED_COMMITS = 4096


class _Missing(Exception):  # noqa: N818 - a state, not a failure
    """The key is not in the bucket."""


async def _stream(body: StreamingBody) -> AsyncIterator[bytes]:
    try:
        while chunk := await to_thread.run_sync(body.read, CHUNK):
            yield chunk
    finally:
        body.close()  # a client that went away must not keep the S3 connection


class S3Delivery:
    def __init__(self, store: S3Store, mode: Literal["proxy", "redirect"]) -> None:
        self.store = store
        self.objects = store.objects
        self.mode = mode
        self._roots: OrderedDict[S3Uri, S3Uri] = OrderedDict()
        self._lock = threading.Lock()

    def committed_root(self, output: S3Uri, *, fresh: bool = False) -> S3Uri:
        """The version folder ``output``'s commit record names; ``NotFound`` without one."""
        with self._lock:
            cached = None if fresh else self._roots.get(output)
        if cached is not None:
            return cached
        try:
            root = self.store.committed_root(output)
        except TranscodeError as exc:
            raise StorageUnavailable(f"cannot read the commit record: {exc.message}") from None
        with self._lock:
            if root is None:
                self._roots.pop(output, None)
                raise NotFound("this job's output is not committed")
            self._roots[output] = root
            self._roots.move_to_end(output)
            while len(self._roots) > CACHED_COMMITS:
                self._roots.popitem(last=False)
        return root

    def respond(self, output: S3Uri, relative: str, range_header: str | None) -> Response:
        """The answer for ``relative`` (checked by ``rules.check_path``) of ``output``."""
        root = self.committed_root(output)
        try:
            return self._serve(root, relative, range_header)
        except _Missing:
            newer = self.committed_root(output, fresh=True)
            if newer != root:
                try:
                    return self._serve(newer, relative, range_header)
                except _Missing:
                    pass
        raise NotFound(f"no such file in this job's output: {relative}")

    def _serve(self, root: S3Uri, relative: str, range_header: str | None) -> Response:
        if self.mode == "proxy":
            return self._proxy(root.child(relative), relative, range_header)
        if rules.is_index(relative):
            return self._index(root, relative)
        return self._redirect(root.child(relative))

    def _proxy(self, uri: S3Uri, relative: str, range_header: str | None) -> Response:
        wanted = ranges.parse(range_header)
        extra: dict[str, Any] = {"Range": wanted.header()} if wanted is not None else {}
        try:
            answer = self.objects.client.get_object(Bucket=uri.bucket, Key=uri.key, **extra)
        except ClientError as exc:
            failure = wrap(exc, f"GET {uri}")
            if failure.missing:
                raise _Missing(str(uri)) from None
            if failure.code == "InvalidRange":
                raise RangeNotSatisfiable(self._size(uri)) from None
            raise StorageUnavailable(f"cannot read {relative}: {failure.code}") from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"cannot read {relative}: {exc}") from None
        headers = rules.headers(relative)
        headers["Accept-Ranges"] = "bytes"
        headers["Content-Length"] = str(answer["ContentLength"])
        if "ETag" in answer:
            headers["ETag"] = answer["ETag"]
        status = 200
        if wanted is not None and answer.get("ContentRange"):
            status = 206
            headers["Content-Range"] = answer["ContentRange"]
        media_type = headers.pop("Content-Type")
        return StreamingResponse(
            _stream(answer["Body"]), status_code=status, headers=headers, media_type=media_type
        )

    def _index(self, root: S3Uri, relative: str) -> Response:
        text = self._read_text(root.child(relative), relative)
        seconds = self.objects.config.presign_seconds

        def sign(path: str) -> str:
            return self.objects.presign_get(root.child(path), seconds, public=True)

        headers = rules.headers(relative)
        headers["Cache-Control"] = rules.SIGNED_CACHE
        media_type = headers.pop("Content-Type")
        body = playlists.rewrite(text, relative, sign)
        return Response(body, headers=headers, media_type=media_type)

    def _redirect(self, uri: S3Uri) -> Response:
        self._size(uri)  # a missing file is our 404, not S3's
        url = self.objects.presign_get(uri, self.objects.config.presign_seconds, public=True)
        headers = {"Cache-Control": rules.SIGNED_CACHE}
        return RedirectResponse(url, status_code=302, headers=headers)

    def _size(self, uri: S3Uri) -> int:
        try:
            size = self.objects.size(uri)
        except ObjectStoreError as exc:
            raise StorageUnavailable(f"cannot read the file: {exc.code}") from None
        if size is None:
            raise _Missing(str(uri))
        return size

    def _read_text(self, uri: S3Uri, relative: str) -> str:
        try:
            data = self.objects.read(uri, length=MAX_INDEX_BYTES + 1)
        except ObjectStoreError as exc:
            if exc.missing:
                raise _Missing(str(uri)) from None
            raise StorageUnavailable(f"cannot read {relative}: {exc.code}") from None
        if len(data) > MAX_INDEX_BYTES:
            raise StorageUnavailable(f"{relative} is larger than {MAX_INDEX_BYTES} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise StorageUnavailable(f"{relative} is not UTF-8 text") from None
