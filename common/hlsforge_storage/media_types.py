"""The files an HLS output holds, by extension: their exact Content-Type. Pure."""

from __future__ import annotations

from pathlib import PurePosixPath

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt; charset=utf-8",
    ".json": "application/json",
}


def content_type(path: str) -> str | None:
    return CONTENT_TYPES.get(PurePosixPath(path).suffix.lower())
