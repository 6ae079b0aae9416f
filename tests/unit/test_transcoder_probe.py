from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest

from hlsforge_api.errors import InvalidInput
from hlsforge_media.limits import Limits
from hlsforge_media.probe import (
    ProbeResult,
    VideoStream,
    parse,
    parse_keyframes,
    probe_args,
    validate,
)

LIMITS = Limits()


def ffprobe_json(**video: Any) -> str:
    stream = {
        "codec_type": "video",
        "codec_name": "h264",
        "profile": "High",
        "level": 31,
        "pix_fmt": "yuv420p",
        "width": 1280,
        "height": 720,
        "sample_aspect_ratio": "1:1",
        "r_frame_rate": "30/1",
        "avg_frame_rate": "30/1",
        "bit_rate": "2500000",
        "disposition": {"attached_pic": 0},
    }
    stream.update(video)
    return json.dumps(
        {
            "streams": [
                {"codec_type": "video", "codec_name": "mjpeg", "disposition": {"attached_pic": 1}},
                stream,
                {"codec_type": "audio", "codec_name": "aac", "channels": 2, "sample_rate": "48000"},
            ],
            "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "12.5", "size": "1"},
        }
    )


def test_parse_skips_cover_art_and_reads_streams() -> None:
    probe = parse(ffprobe_json())
    assert probe.demuxer == "mov"
    assert probe.duration == 12.5
    assert probe.video is not None and probe.video.codec == "h264"
    assert probe.video.fps == Fraction(30) and not probe.video.variable_frame_rate
    assert probe.video.level == 31 and probe.video.bit_rate == 2_500_000
    assert probe.audio is not None and probe.audio.channels == 2


@pytest.mark.parametrize(
    ("extra", "rotation", "display"),
    [
        ({}, 0, (1280, 720)),
        ({"tags": {"rotate": "90"}}, 90, (720, 1280)),
        (
            {"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]},
            270,
            (720, 1280),
        ),
        ({"side_data_list": [{"rotation": 180}]}, 180, (1280, 720)),
        ({"sample_aspect_ratio": "4:3", "width": 720, "height": 576}, 0, (960, 576)),
    ],
)
def test_rotation_and_display_size(
    extra: dict[str, Any], rotation: int, display: tuple[int, int]
) -> None:
    video = parse(ffprobe_json(**extra)).video
    assert video is not None
    assert video.rotation == rotation
    assert video.display_size == display


def test_variable_frame_rate_detected() -> None:
    video = parse(ffprobe_json(r_frame_rate="30/1", avg_frame_rate="2997/125")).video
    assert video is not None and video.variable_frame_rate
    assert video.fps == Fraction(2997, 125)


def test_malformed_numbers_do_not_raise() -> None:
    probe = parse(json.dumps({"streams": [{"codec_type": "video", "width": "x"}], "format": {}}))
    assert probe.duration is None
    assert probe.video is not None and probe.video.width == 0 and probe.video.fps == 0


def test_parse_keyframes_relative_to_first_packet() -> None:
    text = "1.400000,K_\n1.500000,__\n1.433333,__\n3.400000,K_\nN/A,__\n5.400000,K_\n"
    assert parse_keyframes(text) == (0.0, 2.0, 4.0)
    assert parse_keyframes("") == ()


def good() -> ProbeResult:
    return parse(ffprobe_json())


def with_video(**changes: Any) -> ProbeResult:
    probe = good()
    assert probe.video is not None
    return replace(probe, video=replace(probe.video, **changes))


@pytest.mark.parametrize(
    ("probe", "reason"),
    [
        (replace(good(), format_name="hls"), "UnsupportedContainer"),
        (replace(good(), format_name="concat"), "UnsupportedContainer"),
        (replace(good(), video=None), "NoVideoStream"),
        (with_video(width=8000, height=4320), "DimensionsTooLarge"),
        (with_video(width=4320, height=8000), "DimensionsTooLarge"),
        (with_video(width=7680, height=7680), "DimensionsTooLarge"),
        (with_video(width=8, height=720), "DimensionsTooSmall"),
        (with_video(width=0, height=0), "UndecodableVideo"),
        (replace(good(), duration=None), "DurationUnknown"),
        (replace(good(), duration=7 * 3600.0), "DurationTooLong"),
        (replace(good(), duration=0.05), "DurationTooShort"),
        (with_video(fps=Fraction(0), r_fps=Fraction(0)), "FrameRateUnknown"),
        (with_video(fps=Fraction(1000)), "FrameRateTooHigh"),
    ],
)
def test_validate_refuses_with_reason(probe: ProbeResult, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(probe, LIMITS)
    assert caught.value.reason == reason


def test_validate_accepts_portrait_4k_and_checks_sniffed_container() -> None:
    assert validate(with_video(width=2160, height=3840), LIMITS).video is not None
    assert validate(good(), LIMITS, "mov") is not None
    with pytest.raises(InvalidInput) as caught:
        validate(good(), LIMITS, "matroska")
    assert caught.value.reason == "ContainerMismatch"


def test_probe_args_use_allow_lists_and_file_url(tmp_path: Any) -> None:
    src = tmp_path / "concat:a|b"
    args = probe_args(src, LIMITS)
    assert args[args.index("-protocol_whitelist") + 1] == "file"
    assert args[args.index("-format_whitelist") + 1] == "mov,matroska,webm,mpegts,avi,flv"
    assert args[-2:] == ["-i", f"file:{src}"]


def test_video_stream_defaults() -> None:
    video = VideoStream("h264", 320, 240, Fraction(25), Fraction(25))
    assert video.display_size == (320, 240)
