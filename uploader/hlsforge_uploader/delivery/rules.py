"""Rules for serving a job's HLS output: which paths, which types, which cache headers.

Only files the transcoder writes for players are served, each with an exact Content-Type (and
``nosniff``), so nothing a user uploaded can be served as HTML or script. The types come from
the engine's own table (``hlsforge_storage.media_types``); its JSON files (``manifest.json``,
the S3 ``commit.json``) are bookkeeping, never served. Pure functions; each storage backend
resolves an accepted path strictly inside its job's output.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from hlsforge_storage.media_types import content_type as _engine_type
from hlsforge_uploader.errors import BadPath, NotFound

SERVED = frozenset({".m3u8", ".ts", ".m4s", ".mp4", ".jpg", ".vtt"})
"""Extensions players fetch; everything else in an output is 404."""
INDEXES = frozenset({".m3u8", ".vtt"})
"""Text files that name other files of the output (playlists, the sprite's cue file)."""
PLAYLIST_CACHE = "no-cache, max-age=2"
"""Playlists: revalidated, so a re-transcoded job is never stuck in a cache."""
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
"""Segments, init segments and images never change once committed."""
SIGNED_CACHE = "private, no-store"
"""Answers that carry presigned URLs (redirect mode): credentials, never kept by a cache."""


def check_path(raw: str) -> str:
    """Accept ``raw`` (already URL-decoded) as a relative path inside an output, or raise.

    ``BadPath`` (400) for what can never be a file of an output: absolute paths, ``..`` or
    ``.`` segments, empty segments, backslashes, control characters; ``NotFound`` (404) for an
    extension the transcoder does not write for players.
    """
    if not raw or raw.startswith("/") or "\\" in raw or any(ord(c) < 0x20 for c in raw):
        raise BadPath("the path must be relative, without backslashes or control characters")
    parts = raw.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadPath("the path must not contain '.', '..' or empty segments")
    if content_type(raw) is None:
        raise NotFound(f"no such file in this job's output: {raw}")
    return raw


def suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def content_type(path: str) -> str | None:
    """The Content-Type a served file gets; None for what is never served."""
    return _engine_type(path) if suffix(path) in SERVED else None


def is_index(path: str) -> bool:
    return suffix(path) in INDEXES


def cache_control(path: str) -> str:
    return PLAYLIST_CACHE if suffix(path) == ".m3u8" else IMMUTABLE_CACHE


def headers(path: str) -> dict[str, str]:
    """The headers every answer for ``path`` carries, whatever the backend."""
    media_type = content_type(path)
    assert media_type is not None, "check_path first"
    return {
        "Content-Type": media_type,
        "Cache-Control": cache_control(path),
        "X-Content-Type-Options": "nosniff",
    }
