"""What ffprobe and ffmpeg read: a local file, or an object over HTTP(S) by a presigned URL.

Each input carries its own ``-protocol_whitelist``: ``file`` for a file; exactly the URL's scheme
and its transport (``https,tls,tcp``) for a URL, so a demuxer nested inside cannot open a local
file (and the pod's NetworkPolicy lets it reach only the object store). A presigned URL is a
credential: ``name`` is what messages show, and ``redact`` removes the URL from tool output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hlsforge_api.errors import StorageError
from hlsforge_media.sniff import SNIFF_BYTES
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects

HTTP_INPUT_OPTIONS = (
    *("-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_delay_max", "10"),
    *("-rw_timeout", "60000000"),  # microseconds: a silent connection is an error, not a hang
)


def _read_file_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise StorageError("SourceMissing", f"{path} does not exist") from None
    except IsADirectoryError:
        raise StorageError("SourceMissing", f"{path} is a directory") from None
    except OSError as exc:
        raise StorageError("SourceUnreadable", f"cannot read {path}: {exc}") from None


@dataclass(frozen=True)
class MediaInput:
    url: str
    protocols: str
    name: str
    read_head: Callable[[], bytes] = field(compare=False)
    options: tuple[str, ...] = ()
    """Input options placed before ``-i`` (reconnects for HTTP)."""

    def redact(self, text: str) -> str:
        return text.replace(self.url, self.name) if self.url != self.name else text


def local_input(path: Path) -> MediaInput:
    """``file:`` + absolute path: a name like ``concat:a|b`` or ``-x`` stays a file name."""
    resolved = path.resolve()
    return MediaInput(
        url="file:" + str(resolved),
        protocols="file",
        name=str(path),
        read_head=lambda: _read_file_head(resolved),
    )


def http_input(url: str, name: str, read_head: Callable[[], bytes]) -> MediaInput:
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {name}")
    protocols = "https,tls,tcp" if scheme == "https" else "http,tcp"
    return MediaInput(url, protocols, name, read_head, HTTP_INPUT_OPTIONS)


def s3_object_input(objects: S3Objects, uri: S3Uri, seconds: int) -> MediaInput:
    """An S3 object as input: a presigned GET URL of the internal endpoint valid ``seconds``,
    only the ``http(s)`` protocols allowed, the URL hidden from messages, the head read with
    a ranged GET."""

    def head() -> bytes:
        try:
            return objects.read(uri, length=SNIFF_BYTES)
        except ObjectStoreError as exc:
            raise StorageError("SourceUnreadable", f"cannot read {uri}: {exc}") from None

    return http_input(objects.presign_get(uri, seconds, public=False), str(uri), head)


def as_input(src: Path | MediaInput) -> MediaInput:
    return src if isinstance(src, MediaInput) else local_input(src)
