"""The minimum average rate an upload body must keep (pure)."""

from __future__ import annotations

import pytest

from hlsforge_uploader.uploads.rate_floor import RateFloor, TooSlowError


def test_a_steady_body_passes_every_window() -> None:
    floor = RateFloor(min_bytes_per_s=1000, window_s=10, start=0)
    for second in range(100):
        floor.add(1000, float(second))
    floor.close_windows(100.0)


def test_a_trickle_is_refused_when_its_first_window_ends() -> None:
    """One byte every few seconds never leaves the connection idle, but is far too slow."""
    floor = RateFloor(min_bytes_per_s=1000, window_s=10, start=0)
    for second in range(0, 10, 2):
        floor.add(1, float(second))
    with pytest.raises(TooSlowError, match="5 bytes in 10s"):
        floor.add(1, 10.5)


def test_a_pause_is_fine_if_the_window_is_made_up() -> None:
    floor = RateFloor(min_bytes_per_s=1000, window_s=10, start=0)
    floor.add(10_000, 1.0)  # a burst, then silence for the rest of the window
    assert floor.wait(2.0) == 8.0
    floor.close_windows(10.0)  # the window is judged: enough
    assert floor.wait(10.0) == 10.0
    with pytest.raises(TooSlowError):
        floor.close_windows(20.0)  # the next one brought nothing


def test_long_silences_close_every_window_they_span() -> None:
    floor = RateFloor(min_bytes_per_s=1, window_s=1, start=0)
    floor.add(5, 0.1)
    with pytest.raises(TooSlowError, match="0 bytes"):
        floor.add(5, 3.5)
