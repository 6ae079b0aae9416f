"""Turn ffmpeg's ``-progress`` key=value blocks into progress events. Pure.

Nothing is invented: ``percent`` is ``out_time`` over the probed duration, ``eta`` is the
remaining media time over the measured ``speed``. The final block (``progress=end``) reports 100
when ffmpeg got to the end of the source (``out_time`` within ``end_tolerance`` of the probed
duration: the last frame starts one frame before the end, and audio and video rarely end
together); a source that ends early keeps its real percentage.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    percent: float
    out_time: float
    """Seconds of media written (the furthest output stream)."""
    fps: float | None
    speed: float | None
    """Multiple of real time."""
    eta: float | None
    """Seconds left at the current speed."""
    frame: int | None
    done: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "event": "progress",
            "percent": self.percent,
            "out_time": self.out_time,
            "fps": self.fps,
            "speed": self.speed,
            "eta": self.eta,
            "frame": self.frame,
        }


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().rstrip("x"))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class ProgressParser:
    """Feed it stdout lines; it returns an event at the end of every block.

    ``percent`` and ``out_time`` never go backwards, even if a block reports less.
    """

    def __init__(self, duration: float, end_tolerance: float | None = None) -> None:
        self._duration = duration
        self._end_tolerance = (
            end_tolerance if end_tolerance is not None else max(1.0, 0.02 * duration)
        )
        self._block: dict[str, str] = {}
        self._out_time = 0.0

    def feed(self, line: str) -> ProgressEvent | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        if key != "progress":
            self._block[key] = value
            return None
        block, self._block = self._block, {}
        micros = _number(block.get("out_time_us")) or _number(block.get("out_time_ms"))
        if micros is not None and micros > 0:
            self._out_time = max(self._out_time, micros / 1_000_000)
        done = value.strip() == "end"
        percent = min(100.0, 100 * self._out_time / self._duration)
        if done and self._out_time >= self._duration - self._end_tolerance:
            percent = 100.0
        speed = _number(block.get("speed"))
        eta: float | None = None
        if done:
            eta = 0.0
        elif speed:
            eta = round(max(0.0, self._duration - self._out_time) / speed, 1)
        frame = _number(block.get("frame"))
        return ProgressEvent(
            percent=round(percent, 2),
            out_time=round(self._out_time, 3),
            fps=_number(block.get("fps")),
            speed=speed,
            eta=eta,
            frame=None if frame is None else int(frame),
            done=done,
        )


def encode_line(event: dict[str, object]) -> str:
    """One JSON line (no spaces, UTF-8 safe, newline-terminated)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n"
