from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from hlsforge_api.v1alpha1 import SegmentFormat, VideoCodec
from hlsforge_media.limits import Limits
from hlsforge_media.media_input import local_input
from hlsforge_transcoder.ffmpeg_args import build_args, filter_graph
from hlsforge_transcoder.ladder import AudioPlan, Plan, PlannedRendition, SpritePlan

SRC_IN = local_input(Path("/in/src"))
SRC = local_input(Path("/s"))
LIMITS = Limits()
PLAN = Plan(
    renditions=(
        PlannedRendition("720p", 1280, 720, 2800, 2996, 4494),
        PlannedRendition("360p", 640, 360, 800, 856, 1284),
    ),
    fps=Fraction(30000, 1001),
    segment_duration=4,
    segment_format=SegmentFormat.TS,
    codec=VideoCodec.H264,
    preset="veryfast",
    audio=AudioPlan(128, 2),
    duration=12.0,
    poster_at=1.2,
)
HEAD = [
    *("ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"),
    *("-max_alloc", "1073741824", "-progress", "pipe:1"),
    *("-protocol_whitelist", "file", "-format_whitelist", "mov,matroska,webm,mpegts,avi,flv"),
    *("-f", "mov", "-max_pixels", "33177600", "-t", "21600", "-i", "file:/in/src"),
]


def video(index: int, kbps: int, peak: int, buf: int) -> list[str]:
    spec = f"v:{index}"
    return [
        *(f"-c:{spec}", "libx264", f"-b:{spec}", f"{kbps}k", f"-maxrate:{spec}", f"{peak}k"),
        *(f"-bufsize:{spec}", f"{buf}k", f"-g:{spec}", "120"),
        *(f"-force_key_frames:{spec}", "expr:gte(t,n_forced*4)"),
        *(f"-fps_mode:{spec}", "cfr", f"-r:{spec}", "30000/1001", f"-keyint_min:{spec}", "120"),
    ]


def test_two_renditions_audio_and_poster_in_one_process() -> None:
    graph = (
        "[0:v:0]fps=30000/1001,split=3[b0][b1][bp];"
        "[b0]scale=1280:720,setsar=1,format=yuv420p[v0];"
        "[b1]scale=640:360,setsar=1,format=yuv420p[v1];"
        "[bp]select='eq(n\\,0)+lt(prev_selected_t\\,1.2)*gte(t\\,1.2)',scale=1280:720,setsar=1[poster]"
    )
    expected = [
        *HEAD,
        *("-filter_complex", graph),
        *("-map", "[v0]", "-map", "0:a:0", "-map", "[v1]", "-map", "0:a:0"),
        *video(0, 2800, 2996, 4494),
        *video(1, 800, 856, 1284),
        *("-preset", "veryfast", "-sc_threshold", "0", "-forced-idr", "1"),
        *("-c:a", "aac", "-b:a", "128k", "-ac", "2"),
        *("-map_metadata", "-1", "-map_chapters", "-1", "-f", "hls"),
        *("-hls_time", "4", "-hls_playlist_type", "vod", "-hls_list_size", "0"),
        *("-hls_segment_type", "mpegts", "-hls_flags", "independent_segments+temp_file"),
        *("-hls_segment_filename", "/out/%v/seg_%05d.ts"),
        *("-var_stream_map", "v:0,a:0,name:720p v:1,a:1,name:360p", "/out/%v/index.m3u8"),
        *("-map", "[poster]", "-frames:v", "2", "-fps_mode", "passthrough", "-update", "1"),
        *("-c:v", "mjpeg", "-q:v", "3"),
        *("-map_metadata", "-1", "-f", "image2", "/out/poster.jpg"),
    ]
    got = build_args(PLAN, source=SRC_IN, demuxer="mov", out_dir="/out", limits=LIMITS)
    assert got == expected
    assert "-safe" not in got and "-allowed_extensions" not in got


def test_copy_only_needs_no_filter_graph_and_no_encoder_options() -> None:
    plan = replace(
        PLAN,
        renditions=(replace(PLAN.renditions[1], copy=True),),
        audio=None,
        poster_at=None,
        segment_format=SegmentFormat.FMP4,
    )
    assert filter_graph(plan) is None
    got = build_args(plan, source=SRC, demuxer="matroska", out_dir="/o", limits=LIMITS)
    assert got[len(HEAD) - 2 :][:4] == ["-i", "file:/s", "-map", "0:v:0"]
    assert "-filter_complex" not in got and "-preset" not in got and "-c:a" not in got
    assert got[got.index("-c:v:0") + 1] == "copy"
    assert got[got.index("-hls_segment_type") + 1] == "fmp4"
    assert got[got.index("-hls_fmp4_init_filename") + 1] == "init.mp4"
    assert got[got.index("-hls_segment_filename") + 1] == "/o/%v/seg_%05d.m4s"
    assert got[got.index("-var_stream_map") + 1] == "v:0,name:360p"


def test_copy_top_with_encoded_lower_rung_and_sprite() -> None:
    plan = replace(
        PLAN,
        renditions=(replace(PLAN.renditions[0], copy=True), PLAN.renditions[1]),
        poster_at=None,
        sprite=SpritePlan(10.0, 160, 90, 10, 2, 12),
    )
    assert filter_graph(plan) == (
        "[0:v:0]fps=30000/1001,split=2[b1][bs];"
        "[b1]scale=640:360,setsar=1,format=yuv420p[v1];"
        "[bs]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,10)',"
        "scale=160:90,setsar=1,tile=10x2[sprite]"
    )
    got = build_args(plan, source=SRC, demuxer="mov", out_dir="/o", limits=LIMITS)
    maps = [got[i + 1] for i, a in enumerate(got) if a == "-map"]
    assert maps == ["0:v:0", "0:a:0", "[v1]", "0:a:0", "[sprite]"]
    assert "-force_key_frames:v:0" not in got and "-force_key_frames:v:1" in got
    assert got[-1] == "/o/sprite.jpg"


def test_hevc_uses_x265_params_and_hvc1_tag_and_threads() -> None:
    plan = replace(PLAN, codec=VideoCodec.H265, segment_format=SegmentFormat.FMP4, poster_at=None)
    got = build_args(plan, source=SRC, demuxer="mov", out_dir="/o", limits=Limits(threads=2))
    assert got[got.index("-c:v:1") + 1] == "libx265"
    assert got[got.index("-x265-params:v:1") + 1] == (
        "keyint=120:min-keyint=120:scenecut=0:log-level=error"
    )
    assert got[got.index("-tag:v:0") + 1] == "hvc1"
    assert "-sc_threshold" not in got
    assert got.count("-threads") == 2
