"""Turn ffmpeg's ``-progress`` key=value blocks into progress events. Pure.

Nothing is invented: ``percent`` is ``out_time`` over the probed duration, ``eta`` is the
remaining media time over the measured ``speed``. The final block (``progress=end``) reports 100
when ffmpeg got to the end of the source (``out_time`` within ``end_tolerance`` of the probed
duration: the last frame starts one frame before the end, and audio and video rarely end
together); a source that ends early keeps its real percentage.
"""

from __future__ import annotations

import math

from hlsforge_api.events import Progress


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

    ``percent`` and ``out_time`` never go backwards, even if a block reports less. ``ended``
    turns true with the final block (``progress=end``).
    """

    def __init__(self, duration: float, end_tolerance: float | None = None) -> None:
        self._duration = duration
        self._end_tolerance = (
            end_tolerance if end_tolerance is not None else max(1.0, 0.02 * duration)
        )
        self._block: dict[str, str] = {}
        self._out_time = 0.0
        self.ended = False

    def feed(self, line: str) -> Progress | None:
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
        self.ended = self.ended or done
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
        return Progress(
            percent=round(percent, 2),
            out_time=round(self._out_time, 3),
            fps=_number(block.get("fps")),
            speed=speed,
            eta=eta,
            frame=None if frame is None else int(frame),
        )
