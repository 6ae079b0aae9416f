"""The one place ffmpeg runs: its progress streamed as events, both pipes drained, a watchdog.

``run.py`` decides what to encode and what to do with the result; this module only owns the
process. A watchdog thread kills ffmpeg's process group when ``out_time`` stops advancing
(``STALLED``) or the output grows beyond what the ladder can explain (``OutputTooLarge``), so
a hung read or a runaway muxer never holds a pod forever.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from hlsforge_api.errors import EncodeFailed, Killed, Stalled, StorageError
from hlsforge_api.events import Emit
from hlsforge_media.limits import Limits
from hlsforge_media.probe import PIXELS_EXCEEDED, pixel_cap_refusal
from hlsforge_media.proc import kill_group, spawn
from hlsforge_transcoder.progress import ProgressParser

_STORAGE_HINTS = (
    "No space left",
    "Input/output error",
    "Read-only file system",
    "Permission denied",
)


class _Watch:
    """Shared state between the reader loop and the watchdog thread."""

    def __init__(self) -> None:
        self.last_advance = time.monotonic()
        self.out_time = 0.0
        self.killed_for: str | None = None
        self.pixel_cap_hit = False
        """A frame was over ``-max_pixels`` (its size changed after the probe)."""
        self.done = threading.Event()


def _drain(proc: subprocess.Popen[str], tail: deque[str], watch: _Watch) -> None:
    """Read stderr to its end (a full pipe would hang ffmpeg), keeping the last lines."""
    for line in proc.stderr or ():
        if PIXELS_EXCEEDED in line:
            watch.pixel_cap_hit = True
        tail.append(line)


def _tree_bytes(root: Path) -> int:
    total = 0
    for directory, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += (Path(directory) / name).stat().st_size
    return total


def _watchdog(
    proc: subprocess.Popen[str], watch: _Watch, limits: Limits, out_dir: Path, max_bytes: int
) -> None:
    ticks = 0
    while not watch.done.wait(1.0):
        ticks += 1
        if time.monotonic() - watch.last_advance > limits.stall_timeout_s:
            watch.killed_for = "stall"
        elif ticks % 5 == 0 and _tree_bytes(out_dir) > max_bytes:
            watch.killed_for = "size"
        if watch.killed_for:
            kill_group(proc)
            return


def run_ffmpeg(
    args: list[str],
    *,
    duration: float,
    emit: Emit,
    limits: Limits,
    out_dir: Path,
    max_bytes: int,
    redact: Callable[[str], str] = str,
) -> float:
    """Run ffmpeg, stream its progress to ``emit``, return the last ``out_time`` in seconds.

    Both pipes are drained (stdout here, stderr by a thread keeping the last lines); a watchdog
    kills the process group on a stall or when the output grows beyond ``max_bytes``.
    """
    try:
        proc = spawn(args)
    except OSError as exc:
        raise EncodeFailed("FfmpegMissing", f"cannot run ffmpeg: {exc}") from None
    assert proc.stdout is not None and proc.stderr is not None
    stderr_tail: deque[str] = deque(maxlen=30)
    watch = _Watch()
    drain = threading.Thread(target=_drain, args=(proc, stderr_tail, watch), daemon=True)
    dog = threading.Thread(
        target=_watchdog, args=(proc, watch, limits, out_dir, max_bytes), daemon=True
    )
    drain.start()
    dog.start()
    parser = ProgressParser(duration)
    try:
        for line in proc.stdout:
            event = parser.feed(line)
            if event is None:
                continue
            if event.out_time > watch.out_time:
                watch.out_time = event.out_time
                watch.last_advance = time.monotonic()
            emit(event)
        returncode = proc.wait()
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    finally:
        watch.done.set()
        dog.join()
        drain.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    stderr = redact("".join(stderr_tail)).strip()
    last = stderr.splitlines()[-1] if stderr else "no error output"
    if watch.pixel_cap_hit:  # decoders drop such frames and ffmpeg may still exit 0
        refusal = pixel_cap_refusal(PIXELS_EXCEEDED, limits)
        assert refusal is not None
        raise refusal
    if watch.killed_for == "stall":
        raise Stalled("Stalled", f"no progress for {limits.stall_timeout_s:g} s; ffmpeg killed")
    if watch.killed_for == "size":
        raise EncodeFailed("OutputTooLarge", f"output exceeded {max_bytes} bytes; ffmpeg killed")
    if returncode < 0:
        raise Killed("Signal", f"ffmpeg was killed by signal {-returncode}")
    if returncode != 0:
        if any(hint in stderr for hint in _STORAGE_HINTS):
            raise StorageError("WriteFailed", f"ffmpeg could not write its output: {last}")
        raise EncodeFailed("FfmpegFailed", f"ffmpeg exited with {returncode}: {last}")
    return watch.out_time
