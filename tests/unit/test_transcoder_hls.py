from __future__ import annotations

import m3u8
import pytest

from hlsforge_output.hls import (
    PlaylistError,
    Variant,
    aac_codec,
    avc_codec,
    bandwidths,
    codec_from_init,
    hevc_codec,
    parse_master,
    parse_media_playlist,
    render_master,
)
from hlsforge_transcoder.ladder import SpritePlan
from hlsforge_transcoder.thumbnails import sprite_vtt

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init_0.mp4"
#EXTINF:4.000000,
seg_00000.m4s
#EXTINF:2.500000,
seg_00001.m4s
#EXT-X-ENDLIST
"""


def test_parse_media_playlist() -> None:
    playlist = parse_media_playlist(MEDIA)
    assert playlist.target_duration == 4 and playlist.ended
    assert playlist.init_uri == "init_0.mp4"
    assert [s.uri for s in playlist.segments] == ["seg_00000.m4s", "seg_00001.m4s"]
    assert playlist.duration == 6.5


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "#EXT-X-TARGETDURATION:4\n#EXTINF:1,\na.ts\n",
        "#EXTM3U\n#EXTINF:1,\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\nnoinf.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:x,\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:1,\nfile:///etc/passwd\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:1,\n../../secret.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:1,\n/abs.ts\n",
        '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI="http://x/i.mp4"\n#EXTINF:1,\na.ts\n',
    ],
)
def test_malformed_or_escaping_playlists_are_refused(bad: str) -> None:
    with pytest.raises(PlaylistError):
        parse_media_playlist(bad)


def test_bandwidths_peak_and_average() -> None:
    # 4 s of 500 kB, 4 s of 1 MB, a 0.5 s tail with a big keyframe that is not a sustained peak
    peak, average = bandwidths([(4.0, 500_000), (4.0, 1_000_000), (0.5, 200_000)])
    assert peak == 2_000_000
    assert average == round(1_700_000 * 8 / 8.5)
    assert bandwidths([(2.0, 250_000)]) == (1_000_000, 1_000_000)
    assert bandwidths([]) == (0, 0)


def test_codec_strings() -> None:
    assert avc_codec("High", 31) == "avc1.64001f"
    assert avc_codec("Main", 30) == "avc1.4d401e"
    assert avc_codec("Constrained Baseline", 13) == "avc1.42e00d"
    assert hevc_codec("Main", 93) == "hvc1.1.6.L93.B0"
    assert hevc_codec("Main 10", 120) == "hvc1.2.4.L120.B0"
    assert aac_codec("LC") == "mp4a.40.2" and aac_codec("HE-AAC") == "mp4a.40.5"


def test_master_renders_every_attribute_and_round_trips() -> None:
    variants = [
        Variant("720p/index.m3u8", 3_000_000, 2_800_000, "avc1.64001f,mp4a.40.2", 1280, 720, 29.97),
        Variant("360p/index.m3u8", 900_000, 850_000, "avc1.64001e,mp4a.40.2", 640, 360, 29.97),
    ]
    text = render_master(variants, version=6)
    assert text.splitlines()[:3] == ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    parsed = parse_master(text)
    assert [uri for _, uri in parsed] == ["720p/index.m3u8", "360p/index.m3u8"]
    attrs = parsed[0][0]
    assert attrs["BANDWIDTH"] == "3000000" and attrs["AVERAGE-BANDWIDTH"] == "2800000"
    assert attrs["CODECS"] == '"avc1.64001f,mp4a.40.2"'
    assert attrs["RESOLUTION"] == "1280x720" and attrs["FRAME-RATE"] == "29.970"
    # an independent parser agrees
    master = m3u8.loads(text)
    assert master.is_variant
    info = master.playlists[1].stream_info
    assert info.bandwidth == 900_000 and info.average_bandwidth == 850_000
    assert info.resolution == (640, 360) and info.frame_rate == pytest.approx(29.97)
    assert info.codecs == "avc1.64001e,mp4a.40.2"


def test_sprite_vtt_cues_cover_the_duration() -> None:
    sprite = SpritePlan(10.0, 160, 90, 2, 2, 3)
    text = sprite_vtt(sprite, 25.0, "sprite.jpg")
    assert text.startswith("WEBVTT\n")
    assert "00:00:00.000 --> 00:00:10.000\nsprite.jpg#xywh=0,0,160,90" in text
    assert "00:00:10.000 --> 00:00:20.000\nsprite.jpg#xywh=160,0,160,90" in text
    assert "00:00:20.000 --> 00:00:25.000\nsprite.jpg#xywh=0,90,160,90" in text
    assert text.count("-->") == 3


def test_codec_from_init_reads_avcc_and_hvcc_bytes() -> None:
    avcc = b"\x00\x00\x00\x2aavcC\x01\x4d\x40\x1f\xff\xe1"
    assert codec_from_init(b"....moov....stsd" + avcc) == "avc1.4d401f"
    # hvcC: version, profile_space/tier/profile_idc (Main), compat flags (bit 1,2), constraint
    # flags 0x90 then zeros, level 93 (3.1)
    hvcc = b"hvcC\x01\x01\x60\x00\x00\x00\x90\x00\x00\x00\x00\x00\x5d"
    assert codec_from_init(b"....stsd" + hvcc) == "hvc1.1.6.L93.90"
    assert codec_from_init(b"no boxes here") is None
