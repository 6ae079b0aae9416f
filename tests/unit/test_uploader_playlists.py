"""Redirect delivery: playlists keep their playlists relative and get their media signed."""

from __future__ import annotations

from hlsforge_uploader.delivery.playlists import resolve, rewrite, rewrite_cues, rewrite_playlist


def sign(path: str) -> str:
    return f"https://s3.example/b/hls/j/v1/{path}?X-Amz-Signature=sig"


MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=320x180
180p/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="180p/iframes.m3u8"
"""

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.000000,
seg_00000.m4s
#EXTINF:1.500000,
seg_00001.m4s
#EXT-X-ENDLIST
"""


def test_a_master_playlist_keeps_every_variant_relative() -> None:
    assert rewrite_playlist(MASTER, "master.m3u8", sign) == MASTER


def test_segments_and_the_init_segment_become_presigned_urls() -> None:
    out = rewrite_playlist(MEDIA, "180p/index.m3u8", sign).splitlines()
    assert f'#EXT-X-MAP:URI="{sign("180p/init.mp4")}"' in out
    assert sign("180p/seg_00000.m4s") in out and sign("180p/seg_00001.m4s") in out
    # Tags and their order are untouched.
    assert [line for line in out if line.startswith("#")] == [
        line if not line.startswith("#EXT-X-MAP") else f'#EXT-X-MAP:URI="{sign("180p/init.mp4")}"'
        for line in MEDIA.splitlines()
        if line.startswith("#")
    ]


def test_what_is_not_a_servable_file_of_the_output_is_left_as_written() -> None:
    text = "#EXTM3U\n#EXTINF:2,\n../../other-job/seg.ts\n#EXTINF:2,\nhttps://evil.example/x.ts\n"
    text += "#EXTINF:2,\n/etc/passwd.ts\n#EXTINF:2,\nmanifest.json\n#EXTINF:2,\nseg.ts?x=1\n"
    assert rewrite_playlist(text, "180p/index.m3u8", sign) == text


def test_a_uri_resolves_against_its_playlist_folder() -> None:
    assert resolve("180p/index.m3u8", "seg_1.ts") == "180p/seg_1.ts"
    assert resolve("180p/index.m3u8", "../poster.jpg") == "poster.jpg"
    assert resolve("master.m3u8", "180p/index.m3u8") == "180p/index.m3u8"
    assert resolve("180p/index.m3u8", "../../x.ts") is None
    assert resolve("180p/index.m3u8", "s3://b/k.ts") is None
    assert resolve("master.m3u8", "") is None


def test_sprite_cues_get_their_image_signed_with_the_fragment_kept() -> None:
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\nsprite.jpg#xywh=0,0,160,90\n\n"
    vtt += "cue-2\n00:00:05.000 --> 00:00:07.500\nsprite.jpg#xywh=160,0,160,90\n"
    out = rewrite_cues(vtt, "sprite.vtt", sign).splitlines()
    assert out[0] == "WEBVTT" and "00:00:00.000 --> 00:00:05.000" in out
    assert f"{sign('sprite.jpg')}#xywh=0,0,160,90" in out
    assert f"{sign('sprite.jpg')}#xywh=160,0,160,90" in out
    assert "cue-2" in out
    assert rewrite(vtt, "sprite.vtt", sign) == rewrite_cues(vtt, "sprite.vtt", sign)
    assert rewrite(MEDIA, "a/index.m3u8", sign) == rewrite_playlist(MEDIA, "a/index.m3u8", sign)
