from __future__ import annotations

import pytest

from hlsforge_api.errors import InvalidInput
from hlsforge_media.sniff import sniff

TS = bytes([0x47]) + bytes(187)


@pytest.mark.parametrize(
    ("head", "container"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mov"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "mov"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "matroska"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", "avi"),
        (b"FLV\x01\x05\x00\x00\x00\x09", "flv"),
        (TS * 3, "mpegts"),
        (b"\x00\x00\x00\x00" + (TS + bytes(4)) * 3, "mpegts"),
    ],
)
def test_accepts_real_containers(head: bytes, container: str) -> None:
    assert sniff(head).container == container


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"", "EmptyFile"),
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n", "Playlist"),
        (b"\xef\xbb\xbf  #EXTM3U\n", "Playlist"),
        (b"ffconcat version 1.0\nfile /etc/passwd\n", "Playlist"),
        (b"file '/etc/passwd'\n", "Playlist"),
        (b"<!DOCTYPE html><html>", "Markup"),
        (b"%PDF-1.7\n", "Document"),
        (b"PK\x03\x04\x14\x00", "Archive"),
        (b"just some notes about a video\n" * 20, "TextFile"),
        ("héllo wörld ".encode() * 50, "TextFile"),
        (bytes(range(256)) * 2, "UnsupportedContainer"),
        (TS, "UnsupportedContainer"),  # one packet is not enough to call it MPEG-TS
    ],
)
def test_refuses_everything_else(head: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        sniff(head)
    assert caught.value.reason == reason
    assert caught.value.exit_code == 3
