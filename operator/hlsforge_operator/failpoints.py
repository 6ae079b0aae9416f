"""Test-only fault-injection points: ``HLSFORGE_FAILPOINTS`` names moments where the operator
stops, so a fault test can SIGKILL it at a narrow, exact point of a job's life.

``HLSFORGE_FAILPOINTS="before-job-create=pause,before-verify=pause"``: each named point, when
reached, logs ``failpoint <point> reached: pausing`` and then blocks that handler forever (the
rest of the operator runs on). Unset (the default, and in every deployment), ``reach`` returns
at once. An unknown point or action is refused at start-up, so a typo cannot silently disarm a
test.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from enum import StrEnum

ENV = "HLSFORGE_FAILPOINTS"


class Point(StrEnum):
    BEFORE_JOB_CREATE = "before-job-create"
    """The storage is prepared and the slot reserved; the Job is not created yet."""
    BEFORE_VERIFY = "before-verify"
    """The Job completed; its output is neither verified nor published."""
    BEFORE_SOURCE_DELETE = "before-source-delete"
    """Succeeded is persisted; the source is not deleted yet."""


class FailpointError(ValueError):
    pass


def parse(text: str) -> dict[Point, str]:
    """``point=action,...`` -> {point: action}. The only action is ``pause``."""
    armed: dict[Point, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        point, _, action = item.partition("=")
        try:
            armed[Point(point.strip())] = _action(action.strip())
        except ValueError:
            raise FailpointError(
                f"{ENV}: {item!r} is not <point>=pause with a point among "
                f"{', '.join(p.value for p in Point)}"
            ) from None
    return armed


def _action(action: str) -> str:
    if action != "pause":
        raise ValueError(action)
    return action


_ARMED: dict[Point, str] = {}


def arm(environ: Mapping[str, str] = os.environ) -> dict[Point, str]:
    """Read ``HLSFORGE_FAILPOINTS`` once, at start-up; raises FailpointError."""
    _ARMED.clear()
    _ARMED.update(parse(environ.get(ENV, "")))
    if _ARMED:
        logging.getLogger(__name__).warning("test-only failpoints armed: %s", ENV)
    return dict(_ARMED)


async def reach(point: Point) -> None:
    """Return at once unless ``point`` is armed; armed, log it and block forever."""
    if point not in _ARMED:
        return
    logging.getLogger(__name__).warning("failpoint %s reached: pausing", point.value)
    await asyncio.Event().wait()
