"""Recognise a container by its first bytes, before any demuxer sees the file.

An allow-list, not a deny-list: a file is accepted only when its magic bytes say it is one of the
containers we transcode. Playlists and scripts that make ffmpeg open other files (``#EXTM3U``,
``ffconcat``), text, markup, PDF and ZIP get a specific reason so the uploader can tell the user.
Pure (bytes in, answer out) so the uploader reuses it on the first chunk of an upload.
"""

from __future__ import annotations

from dataclasses import dataclass

from hlsforge_api.errors import InvalidInput

SNIFF_BYTES = 1024
"""How much of the file's head ``sniff`` wants (it copes with less)."""

_MOV_ATOMS = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
_TS_PACKET = 188
_M2TS_PACKET = 192


@dataclass(frozen=True)
class Sniffed:
    container: str
    """One of ``mov``, ``matroska``, ``mpegts``, ``avi``, ``flv``."""


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 4:
            return False
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def _is_ts(head: bytes, packet: int, offset: int) -> bool:
    positions = [offset + i * packet for i in range(3)]
    return all(p < len(head) and head[p] == 0x47 for p in positions)


def sniff(head: bytes) -> Sniffed:
    """Classify the first bytes of a file (``SNIFF_BYTES`` of them, or the whole file if shorter).

    Raises ``InvalidInput`` with reason ``EmptyFile``, ``Playlist``, ``Markup``, ``Document``,
    ``Archive``, ``TextFile`` or ``UnsupportedContainer``.
    """
    if not head:
        raise InvalidInput("EmptyFile", "the file is empty")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"#EXTM3U") or stripped.startswith(b"#EXT-X-"):
        raise InvalidInput("Playlist", "the file is an HLS playlist, not a video")
    if stripped.startswith(b"ffconcat") or stripped.startswith(b"file "):
        raise InvalidInput("Playlist", "the file is an ffmpeg concat script, not a video")
    if stripped.startswith(b"<"):
        raise InvalidInput("Markup", "the file is HTML/XML (or another markup), not a video")
    if head.startswith(b"%PDF"):
        raise InvalidInput("Document", "the file is a PDF document, not a video")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        raise InvalidInput("Archive", "the file is a ZIP archive, not a video")
    if len(head) >= 8 and head[4:8] in _MOV_ATOMS:
        return Sniffed("mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("matroska")
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return Sniffed("avi")
    if head.startswith(b"FLV\x01"):
        return Sniffed("flv")
    if _is_ts(head, _TS_PACKET, 0) or _is_ts(head, _M2TS_PACKET, 4):
        return Sniffed("mpegts")
    if _looks_like_text(head):
        raise InvalidInput("TextFile", "the file is text, not a video")
    raise InvalidInput(
        "UnsupportedContainer",
        "the file is not in an accepted container (MP4/MOV, Matroska/WebM, MPEG-TS, AVI, FLV)",
    )
