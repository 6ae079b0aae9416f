from __future__ import annotations

import json

from hlsforge_api.events import Progress, encode
from hlsforge_transcoder.progress import ProgressParser


def block(
    out_time_us: str, speed: str = "2.00x", fps: str = "60.0", end: bool = False
) -> list[str]:
    return [
        "frame=120\n",
        f"fps={fps}\n",
        "bitrate=N/A\n",
        f"out_time_us={out_time_us}\n",
        f"out_time_ms={out_time_us}\n",
        "out_time=00:00:04.000000\n",
        f"speed={speed}\n",
        f"progress={'end' if end else 'continue'}\n",
    ]


def feed(parser: ProgressParser, lines: list[str]) -> list[Progress]:
    return [e for e in (parser.feed(line) for line in lines) if e is not None]


def test_percent_from_out_time_over_duration_and_eta_from_speed() -> None:
    parser = ProgressParser(duration=10.0)
    (event,) = feed(parser, block("4000000"))
    assert event.percent == 40.0 and event.out_time == 4.0
    assert event.fps == 60.0 and event.speed == 2.0 and event.eta == 3.0
    assert event.frame == 120 and not parser.ended


def test_na_values_and_backwards_time_never_move_backwards() -> None:
    parser = ProgressParser(duration=8.0)
    events = feed(
        parser,
        block("N/A", speed="N/A", fps="0.00")
        + block("2000000")
        + block("1000000")
        + block("-5000", speed="nan"),
    )
    assert [e.percent for e in events] == [0.0, 25.0, 25.0, 25.0]
    assert events[0].speed is None and events[0].eta is None
    assert events[3].speed is None


def test_end_block_is_100_and_overshoot_is_clamped() -> None:
    parser = ProgressParser(duration=5.0)
    events = feed(parser, block("5200000") + block("5210000", end=True))
    assert events[0].percent == 100.0
    assert parser.ended and events[-1].percent == 100.0 and events[-1].eta == 0.0


def test_end_of_a_source_that_stopped_early_is_not_100() -> None:
    parser = ProgressParser(duration=10.0)
    (_first, last) = feed(parser, block("2000000") + block("2500000", end=True))
    assert parser.ended and last.percent == 25.0
    near = feed(ProgressParser(duration=10.0), block("9300000", end=True))
    assert near[-1].percent == 100.0  # within one second of the end: the whole source was read


def test_garbage_lines_are_ignored() -> None:
    parser = ProgressParser(duration=5.0)
    assert feed(parser, ["\n", "no equals sign\n", "frame=1\n"]) == []


def test_json_line_encoding() -> None:
    event = Progress(percent=50.0, out_time=2.5, fps=30.0, speed=1.5, eta=1.7, frame=75)
    line = encode(event)
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert json.loads(line) == {
        "event": "progress",
        "percent": 50.0,
        "out_time": 2.5,
        "fps": 30.0,
        "speed": 1.5,
        "eta": 1.7,
        "frame": 75,
    }
