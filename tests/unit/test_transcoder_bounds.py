"""Issue 13, the engine: every number a file can claim is refused or bounded before anything
computes with it. Pure: hostile ffprobe output goes through ``parse`` and ``validate``; what
passes is planned, and the plan's size is checked against its caps (a bound by construction,
not a timing)."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from typing import Any

import pytest

from hlsforge_api.errors import InvalidInput
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import Limits
from hlsforge_media.probe import (
    ProbeResult,
    keyframe_args,
    parse,
    pixel_cap_refusal,
    probe_args,
    validate,
)
from hlsforge_media.streams import AudioStream, VideoStream
from hlsforge_transcoder.ffmpeg_args import filter_graph
from hlsforge_transcoder.ladder import MAX_JPEG_SIDE, plan_ladder
from hlsforge_transcoder.thumbnails import sprite_vtt

LIMITS = Limits()


def ffprobe_json(video: dict[str, Any], *, duration: str = "12.5", extra: int = 0) -> str:
    stream = {
        "codec_type": "video",
        "codec_name": "h264",
        "width": 1280,
        "height": 720,
        "sample_aspect_ratio": "1:1",
        "r_frame_rate": "30/1",
        "avg_frame_rate": "30/1",
    }
    stream.update(video)
    others = [{"codec_type": "data", "codec_name": "bin_data"}] * extra
    return json.dumps(
        {
            "streams": [stream, *others],
            "format": {"format_name": "matroska,webm", "duration": duration},
        }
    )


@pytest.mark.parametrize(
    ("video", "duration", "reason"),
    [
        ({"width": 0}, "5", "UndecodableVideo"),
        ({"width": -640}, "5", "UndecodableVideo"),
        ({"height": "garbage"}, "5", "UndecodableVideo"),
        ({"width": 65535, "height": 16}, "5", "DimensionsTooLarge"),
        ({"width": 10**30, "height": 10**30}, "5", "DimensionsTooLarge"),
        ({"width": 7680, "height": 7680}, "5", "DimensionsTooLarge"),
        ({}, "nan", "DurationUnknown"),
        ({}, "inf", "DurationUnknown"),
        ({}, "-inf", "DurationUnknown"),
        ({}, "-3", "DurationUnknown"),
        ({}, "1e308", "DurationTooLong"),
        ({"avg_frame_rate": "0/0", "r_frame_rate": "0/0"}, "5", "FrameRateUnknown"),
        ({"avg_frame_rate": "1/0", "r_frame_rate": "1/0"}, "5", "FrameRateUnknown"),
        ({"avg_frame_rate": "-30/1", "r_frame_rate": "-30/1"}, "5", "FrameRateUnknown"),
        ({"avg_frame_rate": "1000000/1", "r_frame_rate": "1000000/1"}, "5", "FrameRateTooHigh"),
        ({"avg_frame_rate": "1/1000000", "r_frame_rate": "1/1000000"}, "5", "FrameRateTooLow"),
        ({"sample_aspect_ratio": "10000:1"}, "5", "AspectRatioUnsupported"),
        ({"sample_aspect_ratio": "1:10000"}, "5", "AspectRatioUnsupported"),
        ({"sample_aspect_ratio": "11:1"}, "5", "AspectRatioUnsupported"),
        # a legal pixel aspect that shows the frame wider than any side we accept
        ({"width": 7680, "height": 2160, "sample_aspect_ratio": "2:1"}, "5", "DimensionsTooLarge"),
        # ... or narrower than the smallest
        ({"width": 32, "height": 720, "sample_aspect_ratio": "1:4"}, "5", "DimensionsTooSmall"),
        ({"width": 16, "height": 7681, "sample_aspect_ratio": "1:1"}, "5", "DimensionsTooLarge"),
    ],
)
def test_hostile_probe_values_are_refused_with_a_reason(
    video: dict[str, Any], duration: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(parse(ffprobe_json(video, duration=duration)), LIMITS)
    assert caught.value.reason == reason
    assert caught.value.exit_code == 3


@pytest.mark.parametrize("sar", ["0:1", "1:0", "0:0", "-4:3", "junk"])
def test_a_meaningless_sample_aspect_ratio_means_square_pixels(sar: str) -> None:
    probe = validate(parse(ffprobe_json({"sample_aspect_ratio": sar})), LIMITS)
    assert probe.video is not None and probe.video.display_size == (1280, 720)


def test_thousands_of_streams_are_refused_before_planning() -> None:
    probe = parse(ffprobe_json({}, extra=5000))
    assert probe.stream_count == 5001
    with pytest.raises(InvalidInput) as caught:
        validate(probe, LIMITS)
    assert caught.value.reason == "TooManyStreams"
    assert validate(parse(ffprobe_json({}, extra=LIMITS.max_streams - 1)), LIMITS)


def test_every_tool_call_carries_the_allocation_and_pixel_caps(tmp_path: Any) -> None:
    src = tmp_path / "in.mkv"
    for args in (probe_args(src, LIMITS), keyframe_args(src, LIMITS, "matroska")):
        assert args[args.index("-max_alloc") + 1] == str(LIMITS.max_alloc_bytes)
        assert args[args.index("-max_pixels") + 1] == str(LIMITS.max_pixels)
        assert args.index("-max_pixels") < args.index("-i")


def test_a_tool_stopped_by_the_pixel_cap_is_a_final_refusal() -> None:
    stderr = "[IMGUTILS @ 0x1] Picture size 640x480 exceeds specified max pixel count 1000, see"
    refusal = pixel_cap_refusal(stderr, LIMITS)
    assert refusal is not None and refusal.reason == "DimensionsTooLarge"
    assert not refusal.exit_code.retryable
    assert pixel_cap_refusal("moov atom not found", LIMITS) is None


# -- whatever passes validate, the plan is bounded -------------------------------------------

SIDES = (16, 17, 30, 359, 1081, 4321, 7680)
SARS = (Fraction(1, 10), Fraction(10, 33), Fraction(1), Fraction(40, 33), Fraction(10))
RATES = (Fraction(1, 10), Fraction(30000, 1001), Fraction(240))
DURATIONS = (0.2, 1.0, 3599.9, 6 * 3600.0)
SPRITES = (
    {"intervalSeconds": 1, "width": 640, "columns": 50},
    {"intervalSeconds": 1, "width": 32, "columns": 1},
    {"intervalSeconds": 600, "width": 160, "columns": 10},
)


def extreme_probes() -> list[ProbeResult]:
    """The corners of the accepted space (and a few just outside it, which validate drops)."""
    probes = []
    for w, h, sar, fps, rotation in itertools.product(SIDES, SIDES, SARS, RATES, (0, 90)):
        video = VideoStream("h264", w, h, fps, fps, sar=sar, rotation=rotation)
        for duration in (DURATIONS[0], DURATIONS[-1]):
            probes.append(
                ProbeResult("matroska,webm", duration, video, AudioStream("aac", 99), None)
            )
    return probes


def accepted(probes: list[ProbeResult]) -> list[ProbeResult]:
    kept = []
    for probe in probes:
        try:
            kept.append(validate(probe, LIMITS))
        except InvalidInput:
            continue
    return kept


def test_the_extreme_corner_cases_include_accepted_and_refused_ones() -> None:
    probes = extreme_probes()
    kept = accepted(probes)
    assert 0 < len(kept) < len(probes)


def test_plans_for_extreme_accepted_sources_stay_within_their_caps() -> None:
    side = max(LIMITS.max_width, LIMITS.max_height)
    for probe, wire in itertools.product(accepted(extreme_probes()), SPRITES):
        s = EncodingSettings.model_validate({"thumbnails": {"sprite": wire}})
        plan = plan_ladder(probe, s, LIMITS)
        assert 1 <= len(plan.renditions) <= 4
        for r in plan.renditions:
            assert 2 <= r.width <= side and 2 <= r.height <= side, (probe, r)
            assert r.width % 2 == 0 and r.height % 2 == 0
        assert 1 <= plan.fps <= LIMITS.max_output_fps
        sheet = plan.sprite
        assert sheet is not None
        assert 1 <= sheet.count <= sheet.columns * sheet.rows
        assert sheet.columns * sheet.tile_width <= MAX_JPEG_SIDE
        assert sheet.rows * sheet.tile_height <= MAX_JPEG_SIDE
        assert sheet.columns * sheet.tile_width * sheet.rows * sheet.tile_height <= (
            LIMITS.max_sprite_pixels
        ), (probe, sheet)
        assert sheet.interval_s >= wire["intervalSeconds"]
        assert plan.audio is not None and plan.audio.channels <= 2


def test_sprite_cues_are_one_per_tile_at_most_for_the_longest_source() -> None:
    video = VideoStream("h264", 7680, 16, Fraction(30), Fraction(30))
    probe = validate(ProbeResult("matroska", 6 * 3600.0, video, None), LIMITS)
    s = EncodingSettings.model_validate({"thumbnails": {"sprite": {"intervalSeconds": 1}}})
    sheet = plan_ladder(probe, s, LIMITS).sprite
    assert sheet is not None
    cues = sprite_vtt(sheet, 6 * 3600.0, "sprite.jpg").count("-->")
    assert 1 <= cues <= sheet.count
    assert sheet.interval_s * sheet.count >= 6 * 3600.0  # spaced out, not dropped at the end


# -- pictures that end before the file does --------------------------------------------------


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        ({"duration": "1.000000"}, 1.0),
        ({"tags": {"DURATION": "00:00:01.500000000"}}, 1.5),
        ({"duration": "nan", "tags": {"DURATION": "garbage"}}, None),
        ({"duration": "-2", "tags": {"DURATION": "-00:00:01"}}, None),
        ({"tags": {"DURATION": "999999999:00:00"}}, 999999999 * 3600.0),
        ({"tags": {"DURATION": "9" * 5000 + ":00:00"}}, None),
    ],
)
def test_the_video_streams_own_duration_is_read_or_unknown(
    video: dict[str, Any], expected: float | None
) -> None:
    probe = parse(ffprobe_json(video, duration="10"))
    assert probe.video is not None and probe.video.duration == expected


@pytest.mark.parametrize("pictures", [None, 0.001, 1.0, 9.5, 10.0, 1e308])
def test_thumbnails_and_the_held_picture_stay_within_the_file(pictures: float | None) -> None:
    video = VideoStream("h264", 640, 360, Fraction(10), Fraction(10), duration=pictures)
    probe = validate(ProbeResult("mov", 10.0, video, AudioStream("aac", 2)), LIMITS)
    s = EncodingSettings.model_validate({"thumbnails": {"sprite": {"intervalSeconds": 1}}})
    plan = plan_ladder(probe, s, LIMITS)
    assert 0 <= plan.hold_last_picture_s < 10.0
    assert plan.poster_at is not None and 0 <= plan.poster_at <= 10.0
    assert plan.sprite is not None and plan.sprite.count <= 10
    if pictures is not None and pictures < 5:
        assert plan.hold_last_picture_s == round(10.0 - pictures, 3)
        assert plan.poster_at <= pictures and plan.sprite.count == max(1, math.ceil(pictures))
        assert not plan.top.copy and any("held" in note for note in plan.notes)
        assert f"tpad=stop_mode=clone:stop_duration={plan.hold_last_picture_s:g}," in (
            filter_graph(plan) or ""
        )
    else:
        assert plan.hold_last_picture_s == 0 and "tpad" not in (filter_graph(plan) or "")
