"""Test-only pause points, off unless ``HLSFORGE_TEST_PAUSE`` is set (``hlsforge_api.pod``).

Some moments of a run are too narrow for a fault test to hit by watching (the commit is one
``rename``). ``HLSFORGE_TEST_PAUSE=before-commit:20`` makes the engine stop 20 seconds at that
point, after printing one line on stderr that names it, so the test strikes inside a wide
window instead of racing. A value that does not parse is ignored: a test setting can never
break a real run. Never set it in production: it only delays the run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TextIO, get_args

from hlsforge_api.pod import TEST_PAUSE_ENV

Point = Literal["before-finalize", "before-commit", "after-commit"]
"""``before-finalize``: ffmpeg has ended, the master playlist and the manifest are not yet
written (nor verified, synced, renamed). ``before-commit``: the attempt's output is written,
verified and synced, not yet renamed into place. ``after-commit``: renamed into place, the
engine has not reported it yet."""
POINTS: tuple[str, ...] = get_args(Point)
MAX_PAUSE_S = 600.0


@dataclass(frozen=True)
class Pause:
    point: str
    seconds: float


def parse_pause(text: str | None) -> Pause | None:
    """``<point>:<seconds>`` with a known point and 0 < seconds <= 600; anything else is None."""
    point, _, seconds = (text or "").strip().partition(":")
    try:
        value = float(seconds)
    except ValueError:
        return None
    if point not in POINTS or not 0 < value <= MAX_PAUSE_S:
        return None
    return Pause(point, value)


def pause_at(
    point: Point,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: TextIO | None = None,
) -> bool:
    """Stop here for the configured time if ``point`` is the configured point; whether it did."""
    pause = parse_pause((os.environ if env is None else env).get(TEST_PAUSE_ENV))
    if pause is None or pause.point != point:
        return False
    out = sys.stderr if log is None else log
    out.write(json.dumps({"testPause": point, "seconds": pause.seconds}) + "\n")
    out.flush()
    sleep(pause.seconds)
    return True
