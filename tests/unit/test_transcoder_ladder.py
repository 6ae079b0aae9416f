from __future__ import annotations

import threading
from fractions import Fraction
from typing import Any

import pytest

from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import Limits
from hlsforge_media.probe import AudioStream, ProbeResult, VideoStream
from hlsforge_transcoder.ladder import keyframes_fit, plan_ladder

LIMITS = Limits()


def probe(
    width: int = 1920,
    height: int = 1080,
    *,
    duration: float = 30.0,
    keyframes: tuple[float, ...] | None = None,
    audio: bool = True,
    **video: Any,
) -> ProbeResult:
    fields: dict[str, Any] = {
        "codec": "h264",
        "width": width,
        "height": height,
        "fps": Fraction(30),
        "r_fps": Fraction(30),
        "profile": "High",
        "pix_fmt": "yuv420p",
        "bit_rate": 4_000_000,
    }
    fields.update(video)
    return ProbeResult(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration=duration,
        video=VideoStream(**fields),
        audio=AudioStream("aac", 2) if audio else None,
        keyframes=keyframes,
    )


def settings(**wire: Any) -> EncodingSettings:
    return EncodingSettings.model_validate(wire)


def sizes(p: ProbeResult, s: EncodingSettings | None = None) -> list[tuple[int, int]]:
    return [(r.width, r.height) for r in plan_ladder(p, s or settings(), LIMITS).renditions]


def test_default_ladder_for_1080p() -> None:
    plan = plan_ladder(probe(), settings(), LIMITS)
    assert [r.name for r in plan.renditions] == ["1080p", "720p", "480p", "360p"]
    assert sizes(probe()) == [(1920, 1080), (1280, 720), (854, 480), (640, 360)]
    top = plan.top
    assert (top.video_kbps, top.max_kbps, top.bufsize_kbps) == (5000, 5350, 8025)
    assert plan.fps == 30 and plan.audio is not None and plan.audio.channels == 2


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1280, 720, [(1280, 720), (854, 480), (640, 360)]),
        (1000, 562, [(854, 480), (640, 360)]),
        (640, 480, [(640, 480), (480, 360)]),
        (318, 178, [(318, 178)]),
        (319, 179, [(318, 178)]),
        (176, 144, [(176, 144)]),
        (3840, 2160, [(1920, 1080), (1280, 720), (854, 480), (640, 360)]),
        (1080, 1920, [(1080, 1920), (720, 1280), (480, 854), (360, 640)]),
    ],
)
def test_never_upscales_and_sizes_are_even(
    width: int, height: int, expected: list[tuple[int, int]]
) -> None:
    got = sizes(probe(width, height))
    assert got == expected
    for w, h in got:
        assert w % 2 == 0 and h % 2 == 0
        assert w <= width and h <= height


def test_tiny_source_gets_one_scaled_down_bitrate() -> None:
    plan = plan_ladder(probe(320, 180), settings(), LIMITS)
    assert len(plan.renditions) == 1
    assert plan.top.name == "180p" and 200 <= plan.top.video_kbps < 800
    assert any("smaller than 360p" in note for note in plan.notes)


def test_rotation_and_pixel_aspect_follow_display() -> None:
    assert sizes(probe(1280, 720, rotation=90))[0] == (720, 1280)
    assert sizes(probe(720, 576, sar=Fraction(16, 11)))[0] == (872, 480)


def test_explicit_ladder_drops_upscaling_and_clamps_if_nothing_left() -> None:
    wanted = settings(
        renditions=[
            {"name": "hi", "height": 1080, "videoBitrateKbps": 5000},
            {"name": "mid", "height": 480, "videoBitrateKbps": 1200, "maxBitrateKbps": 1500},
            {"name": "low", "height": 240, "width": 426, "videoBitrateKbps": 400},
        ]
    )
    plan = plan_ladder(probe(1280, 720), wanted, LIMITS)
    assert [(r.name, r.resolution) for r in plan.renditions] == [
        ("mid", "854x480"),
        ("low", "426x240"),
    ]
    assert plan.renditions[0].max_kbps == 1500
    assert any("hi" in n and "upscale" in n for n in plan.notes)
    tiny = plan_ladder(probe(320, 180), wanted, LIMITS)
    assert [(r.name, r.resolution) for r in tiny.renditions] == [("low", "320x180")]
    assert any("clamped" in n for n in tiny.notes)


KEYS_2S = tuple(float(t) for t in range(0, 30, 2))


def test_copy_when_source_fits_top_rendition() -> None:
    plan = plan_ladder(probe(keyframes=KEYS_2S), settings(), LIMITS)
    assert plan.top.copy and not any(r.copy for r in plan.renditions[1:])


@pytest.mark.parametrize(
    ("changes", "wire", "why"),
    [
        ({"keyframes": None}, {}, "keyframes unknown"),
        ({"keyframes": tuple(t * 2.5 for t in range(12))}, {}, "segment boundaries"),
        ({"codec": "hevc"}, {}, "source codec"),
        ({"pix_fmt": "yuv422p"}, {}, "pixel format"),
        ({"profile": "High 10"}, {}, "profile"),
        ({"bit_rate": 20_000_000}, {}, "bitrate"),
        ({"rotation": 180}, {}, "rotated"),
        ({"fps": Fraction(2997, 100)}, {}, "frame rate"),
        ({}, {"video": {"allowCopy": False}}, None),
        ({"width": 2560, "height": 1440}, {}, "size"),
    ],
)
def test_copy_refused(changes: dict[str, Any], wire: dict[str, Any], why: str | None) -> None:
    args: dict[str, Any] = {"keyframes": KEYS_2S}
    args.update(changes)
    plan = plan_ladder(probe(**args), settings(**wire), LIMITS)
    assert not plan.copies
    if why is not None:
        assert any(why in note for note in plan.notes), plan.notes


def test_keyframes_fit_tolerates_half_a_frame_and_extra_keyframes() -> None:
    fps = Fraction(30)
    assert keyframes_fit((0.0, 1.0, 2.01, 4.0, 5.5), 2, 5.8, fps)
    assert not keyframes_fit((0.0, 2.1, 4.0), 2, 5.8, fps)
    assert not keyframes_fit((0.5, 2.0, 4.0), 2, 5.8, fps)
    assert keyframes_fit((0.0,), 4, 4.0, fps)  # a single segment needs no boundary


def test_vfr_source_becomes_standard_cfr_and_high_rates_are_halved() -> None:
    vfr = probe(fps=Fraction(2950, 100), r_fps=Fraction(30))
    assert plan_ladder(vfr, settings(), LIMITS).fps == Fraction(30000, 1001)
    odd = probe(fps=Fraction(17, 1), r_fps=Fraction(60))
    assert plan_ladder(odd, settings(), LIMITS).fps == 17
    fast = probe(fps=Fraction(120), r_fps=Fraction(120))
    assert plan_ladder(fast, settings(), LIMITS).fps == 60


def test_audio_and_thumbnails() -> None:
    plan = plan_ladder(probe(audio=False), settings(), LIMITS)
    assert plan.audio is None and any("no audio" in n for n in plan.notes)
    assert plan_ladder(probe(), settings(audio={"codec": "none"}), LIMITS).audio is None
    assert plan.poster_at == 3.0
    late = plan_ladder(probe(duration=10), settings(thumbnails={"posterAtPercent": 100}), LIMITS)
    assert late.poster_at is not None and late.poster_at < 10
    sprite = plan_ladder(
        probe(duration=95), settings(thumbnails={"poster": False, "sprite": {}}), LIMITS
    )
    assert sprite.poster_at is None and sprite.sprite is not None
    assert (sprite.sprite.count, sprite.sprite.columns, sprite.sprite.rows) == (10, 10, 1)
    assert (sprite.sprite.tile_width, sprite.sprite.tile_height) == (160, 90)


@pytest.mark.parametrize(
    "sar", [Fraction(1, 10_000), Fraction(1, 1000), Fraction(10_000), Fraction(1, 255)]
)
def test_extreme_sample_aspect_ratios_plan_a_sprite_that_fits_without_spinning(
    sar: Fraction,
) -> None:
    """Issue 13: a tile taller than any JPEG made the sprite planner loop forever."""
    plans: list[Any] = []
    s = settings(thumbnails={"sprite": {"intervalSeconds": 2, "width": 160, "columns": 10}})
    worker = threading.Thread(
        target=lambda: plans.append(plan_ladder(probe(320, 2160, sar=sar), s, LIMITS)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=10)
    assert plans, "planning did not finish"
    sprite = plans[0].sprite
    assert sprite is not None
    assert sprite.rows * sprite.tile_height <= 65000
    assert sprite.columns * sprite.tile_width <= 65000
    assert sprite.count >= 1 and sprite.count <= sprite.rows * sprite.columns
    assert all(r.width >= 2 and r.height >= 2 for r in plans[0].renditions)
