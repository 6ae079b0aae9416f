"""Rules for serving a job's HLS output: which paths, which types, which cache headers.

Only files the transcoder writes are served, each with an exact Content-Type (and
``nosniff``), so nothing a user uploaded can be served as HTML or script. Pure functions;
the route resolves the accepted path strictly inside ``hls/<id>/`` through storage.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from hlsforge_uploader.errors import BadPath, NotFound

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt; charset=utf-8",
}
PLAYLIST_CACHE = "no-cache, max-age=2"
"""Playlists: revalidated, so a re-transcoded job is never stuck in a cache."""
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
"""Segments, init segments and images never change once committed."""


def check_path(raw: str) -> str:
    """Accept ``raw`` (already URL-decoded) as a relative path inside an output, or raise.

    ``BadPath`` (400) for what can never be a file of an output: absolute paths, ``..`` or
    ``.`` segments, empty segments, backslashes, control characters; ``NotFound`` (404) for an
    extension the transcoder does not write.
    """
    if not raw or raw.startswith("/") or "\\" in raw or any(ord(c) < 0x20 for c in raw):
        raise BadPath("the path must be relative, without backslashes or control characters")
    parts = raw.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadPath("the path must not contain '.', '..' or empty segments")
    if content_type(raw) is None:
        raise NotFound(f"no such file in this job's output: {raw}")
    return raw


def content_type(path: str) -> str | None:
    return CONTENT_TYPES.get(PurePosixPath(path).suffix.lower())


def cache_control(path: str) -> str:
    return PLAYLIST_CACHE if path.lower().endswith(".m3u8") else IMMUTABLE_CACHE
