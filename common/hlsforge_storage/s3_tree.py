"""An output under an S3 prefix, read as an ``OutputTree``: one listing, and the SHA-256 S3 checked
itself when each object was uploaded (``x-amz-checksum-sha256``), so a read-back never downloads
the segments.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from hlsforge_api.errors import StorageError
from hlsforge_output.tree import MAX_FILES, MAX_TEXT, MAX_TREE_BYTES, TreeError
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects


def _failed(exc: ObjectStoreError) -> Exception:
    """A store that cannot answer for now is no verdict on the tree (``StorageError``,
    transient: the caller asks again later); any other failure makes the tree unreadable."""
    if exc.transient:
        return StorageError("ObjectStoreFailed", str(exc), transient=True)
    return TreeError(str(exc))


class S3Tree:
    def __init__(self, objects: S3Objects, root: S3Uri) -> None:
        self.objects = objects
        self.root = root
        self.name = str(root)
        self._sizes: dict[str, int] | None = None
        self._sums: dict[str, str | None] = {}

    def sizes(self) -> dict[str, int]:
        if self._sizes is None:
            listed: dict[str, int] = {}
            total = 0
            try:
                for info in self.objects.listing(self.root):
                    listed[info.key] = info.size
                    total += info.size
                    if len(listed) > MAX_FILES or total > MAX_TREE_BYTES:
                        raise TreeError(f"{self.name} holds more than the largest output allowed")
            except ObjectStoreError as exc:
                raise _failed(exc) from None
            cut = len(self.root.prefix)
            self._sizes = {key[cut:]: size for key, size in listed.items()}
        return self._sizes

    def read_text(self, rel: str) -> str:
        size = self.sizes().get(rel)
        if size is None:
            raise FileNotFoundError(f"{self.root.child(rel)} does not exist")
        if size > MAX_TEXT:
            raise TreeError(f"{rel} is {size} bytes, too large to be a playlist or manifest")
        try:
            return self.objects.read(self.root.child(rel)).decode("utf-8")
        except ObjectStoreError as exc:
            raise _failed(exc) from None

    def sha256(self, rel: str) -> str | None:
        if not self._sums:
            # One parallel round of HEAD requests for the whole tree, on first use.
            names = sorted(self.sizes())
            with ThreadPoolExecutor(max_workers=16) as pool:
                try:
                    found = list(pool.map(lambda n: self.objects.sha256(self.root.child(n)), names))
                except ObjectStoreError as exc:
                    raise _failed(exc) from None
            self._sums = dict(zip(names, found, strict=True))
        return self._sums.get(rel)
