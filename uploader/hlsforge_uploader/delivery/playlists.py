"""Playlists and cue files for redirect delivery: every file URI made to resolve. Pure.

In redirect mode the uploader answers ``.m3u8`` and ``.vtt`` files itself and the player
fetches media straight from S3. Each URI in them is resolved against the file's own folder:

- another playlist (``.m3u8``) stays relative, so the player asks the uploader again (which
  checks the job and rewrites that playlist in turn);
- any other file of the output (segments, init segments, images) becomes ``sign(path)``, a
  short-lived presigned URL of that object;
- what is not a servable file of the output (an absolute URL, ``..`` past the output's root,
  a type we never serve) is left as written: it then resolves against the uploader, whose
  path checks refuse it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from hlsforge_uploader.delivery import rules
from hlsforge_uploader.errors import ApiError

Sign = Callable[[str], str]
"""Relative path inside the output -> an absolute URL the player can fetch."""

_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


def resolve(index: str, uri: str) -> str | None:
    """``uri`` as written in the file ``index`` -> a path inside the output, or None."""
    if not uri or ":" in uri or "?" in uri or "#" in uri or uri.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(index), uri))
    try:
        return rules.check_path(joined)
    except ApiError:
        return None


def _target(index: str, uri: str, sign: Sign) -> str:
    path = resolve(index, uri)
    if path is None or rules.suffix(path) == ".m3u8":
        return uri
    return sign(path)


def rewrite_playlist(text: str, playlist: str, sign: Sign) -> str:
    """``text`` of the playlist at ``playlist`` with its URI lines and ``URI="..."``
    attributes (``#EXT-X-MAP``, ``#EXT-X-MEDIA``...) rewritten."""
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            out.append(_URI_ATTRIBUTE.sub(lambda m: f'URI="{_target(playlist, m[1], sign)}"', line))
        elif stripped:
            out.append(_target(playlist, stripped, sign))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def rewrite_cues(text: str, cues: str, sign: Sign) -> str:
    """``text`` of the WebVTT file at ``cues``: each cue payload ``image#xywh=...`` gets its
    image signed (the fragment kept); headers, timings and notes are left alone."""
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or "-->" in stripped or stripped.startswith(("WEBVTT", "NOTE")):
            out.append(line)
            continue
        uri, mark, fragment = stripped.partition("#")
        path = resolve(cues, uri)
        out.append(line if path is None else f"{sign(path)}{mark}{fragment}")
    return "\n".join(out) + "\n"


def rewrite(text: str, index: str, sign: Sign) -> str:
    """Rewrite a playlist or a cue file, by its extension."""
    if rules.suffix(index) == ".vtt":
        return rewrite_cues(text, index, sign)
    return rewrite_playlist(text, index, sign)
