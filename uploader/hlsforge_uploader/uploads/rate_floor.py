"""The slowest a request body may arrive: a minimum average rate per window. Pure.

A per-chunk idle timer lets a client hold an upload (a connection, a worker, a partial file)
open forever by sending one byte a minute. Instead the body is judged in windows of
``window_s`` seconds: each window must bring at least ``min_bytes_per_s * window_s`` bytes, or
the upload is dropped (408). A client on any real network passes easily (8 KiB/s is 64 kbit/s);
a trickle is dropped at the end of its first window.
"""

from __future__ import annotations

from dataclasses import dataclass


class TooSlowError(Exception):
    """The body fell below the floor; the message says by how much."""


@dataclass
class RateFloor:
    min_bytes_per_s: float
    window_s: float
    start: float
    """When the current window opened (monotonic seconds)."""
    got: int = 0
    """Bytes received in the current window."""

    @property
    def needed(self) -> float:
        return self.min_bytes_per_s * self.window_s

    def wait(self, now: float) -> float:
        """Seconds until the current window closes (how long a read may wait)."""
        return max(0.0, self.start + self.window_s - now)

    def add(self, size: int, now: float) -> None:
        """``size`` bytes arrived at ``now``; raises ``TooSlowError`` if a window closed short."""
        self.close_windows(now)
        self.got += size

    def close_windows(self, now: float) -> None:
        """Judge every window that has ended by ``now``; raises ``TooSlowError`` for a short one."""
        while now >= self.start + self.window_s:
            if self.got < self.needed:
                raise TooSlowError(
                    f"{self.got} bytes in {self.window_s:g}s, below the floor of "
                    f"{self.min_bytes_per_s:g} bytes/s"
                )
            self.start += self.window_s
            self.got = 0
