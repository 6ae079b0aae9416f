"""The test-only failpoints: parsing of HLSFORGE_FAILPOINTS, and that an unarmed point
returns at once while an armed one blocks."""

from __future__ import annotations

import asyncio

import pytest

from hlsforge_operator import failpoints
from hlsforge_operator.failpoints import FailpointError, Point


def test_unset_or_empty_arms_nothing() -> None:
    assert failpoints.parse("") == {}
    assert failpoints.parse(" , ") == {}
    assert failpoints.arm({}) == {}


def test_points_are_parsed() -> None:
    armed = failpoints.parse("before-job-create=pause, before-source-delete = pause")
    assert armed == {Point.BEFORE_JOB_CREATE: "pause", Point.BEFORE_SOURCE_DELETE: "pause"}


@pytest.mark.parametrize(
    "text", ["before-verify", "before-verify=crash", "after-everything=pause", "=pause"]
)
def test_a_typo_is_refused(text: str) -> None:
    with pytest.raises(FailpointError, match="HLSFORGE_FAILPOINTS"):
        failpoints.parse(text)


def test_unarmed_returns_and_armed_blocks() -> None:
    async def run() -> None:
        failpoints.arm({})
        await asyncio.wait_for(failpoints.reach(Point.BEFORE_VERIFY), 1)
        failpoints.arm({failpoints.ENV: "before-verify=pause"})
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(failpoints.reach(Point.BEFORE_VERIFY), 0.2)
            await asyncio.wait_for(failpoints.reach(Point.BEFORE_JOB_CREATE), 1)
        finally:
            failpoints.arm({})

    asyncio.run(run())
