"""The progress daemon follows a running pod's log again when the stream ends while the pod
still runs: a kubelet or API-server restart ends the stream cleanly (no error), and the
job's progress must not freeze for the rest of the encode (fault-table rows 5.1, 5.3).
The log reads are replaced by recorded calls; the pods index by a fixed answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import kopf
import pytest

from hlsforge_operator import actions, handlers
from hlsforge_operator.runtime import Runtime
from hlsforge_operator.settings import OperatorSettings
from hlsforge_operator.state import PodState

NS, NAME = "ns", "clip"
KEY = (NS, NAME)


class Stopped:
    """Stands in for kopf's DaemonStopped: true once ``after`` follows were made."""

    def __init__(self, calls: list[Any], after: int) -> None:
        self.calls, self.after = calls, after

    def __bool__(self) -> bool:
        return len(self.calls) >= self.after

    async def wait(self, timeout: float) -> None:
        await asyncio.sleep(0)


def _run(daemon: Coroutine[Any, Any, None]) -> None:
    """Run the daemon until its stand-in stop flag is set; fail if it never is."""
    asyncio.run(asyncio.wait_for(daemon, timeout=5))


def _pod(name: str) -> PodState:
    return PodState(name=name, created=datetime.now(UTC), phase="Running", running=True)


def _follow(
    monkeypatch: pytest.MonkeyPatch, pods: list[PodState], follows: int, *, broken: bool = False
) -> tuple[list[tuple[str, int | None]], Runtime]:
    calls: list[tuple[str, int | None]] = []

    async def follow(runtime: Runtime, key: Any, pod: str, tail_lines: int | None = None) -> None:
        calls.append((pod, tail_lines))
        if broken:
            raise ConnectionError("stream broke")

    monkeypatch.setattr(actions, "follow", follow)
    runtime = Runtime(OperatorSettings(media_root=None), None, None)  # type: ignore[arg-type]
    _run(
        handlers.follow_progress(
            name=NAME,
            namespace=NS,
            memo=kopf.Memo(runtime=runtime),
            pods={KEY: pods},  # type: ignore[arg-type] # the handler only reads it
            stopped=Stopped(calls, follows),  # type: ignore[arg-type]
            logger=logging.getLogger("test"),
        )
    )
    return calls, runtime


def test_a_stream_that_ends_while_the_pod_runs_is_followed_again_from_its_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls, _ = _follow(monkeypatch, [_pod("clip-transcode-a")], follows=3)
    tail = handlers.RESUME_TAIL_LINES
    assert calls == [("clip-transcode-a", None), *[("clip-transcode-a", tail)] * 2]


def test_a_broken_stream_is_followed_again_too(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, _ = _follow(monkeypatch, [_pod("clip-transcode-a")], follows=2, broken=True)
    assert calls == [("clip-transcode-a", None), ("clip-transcode-a", handlers.RESUME_TAIL_LINES)]


def test_following_again_keeps_the_progress_known_so_far(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept: list[Any] = []

    async def follow(runtime: Runtime, key: Any, pod: str, tail_lines: int | None = None) -> None:
        kept.append(runtime.progress.get(key))
        runtime.progress[key] = f"line {len(kept)}"  # type: ignore[assignment]

    monkeypatch.setattr(actions, "follow", follow)
    runtime = Runtime(OperatorSettings(media_root=None), None, None)  # type: ignore[arg-type]
    _run(
        handlers.follow_progress(
            name=NAME,
            namespace=NS,
            memo=kopf.Memo(runtime=runtime),
            pods={KEY: [_pod("clip-transcode-a")]},  # type: ignore[arg-type]
            stopped=Stopped(kept, 2),  # type: ignore[arg-type]
            logger=logging.getLogger("test"),
        )
    )
    assert kept == [None, "line 1"]  # a new pod starts from nothing, the same pod does not
