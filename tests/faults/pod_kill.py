"""A transcoder container SIGKILLed as the OOM killer or a crash would: every process of the
container at once, found on this node (the pods run on this host under containerd) by the
container's ID in ``/proc/<pid>/cgroup``. Not a graceful delete: nothing gets SIGTERM.

Also the pod's own log, followed from the test, to strike on a line the engine prints
(a progress percentage, a test pause point) with no operator in between."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.operator_env import Env

CONTAINER = "transcoder"


def container_id(pod: Any, container: str = CONTAINER) -> str:
    """The runtime's ID of ``container`` in ``pod`` (``containerd://<id>`` without its scheme)."""
    for status in pod.status.container_statuses or []:
        if status.name == container and status.container_id:
            return str(status.container_id).partition("://")[2]
    raise AssertionError(f"{pod.metadata.name} has no running {container} container")


def container_pids(cid: str, proc: Path = Path("/proc")) -> list[int]:
    """Host PIDs whose cgroup path names the container ``cid``."""
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if cid in (entry / "cgroup").read_text():
                pids.append(int(entry.name))
        except OSError:  # it ended meanwhile
            continue
    return pids


def sigkill_container(pod: Any, container: str = CONTAINER) -> int:
    """SIGKILL every process of the container at once; how many there were."""
    pids = container_pids(container_id(pod, container))
    assert pids, f"no process of {pod.metadata.name}/{container} on this node"
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    return len(pids)


def follow_log(env: Env, pod: str, until: Callable[[str], bool], timeout: float = 240) -> str:
    """Read the container's log as it is written until a line satisfies ``until``; that line.
    Raises AssertionError if the log ends (the container exited) first."""
    response: Any = env.api.core.read_namespaced_pod_log(
        pod,
        env.namespace,
        container=CONTAINER,
        follow=True,
        _preload_content=False,
        _request_timeout=timeout,
    )
    pending = b""
    try:
        for chunk in response.stream(4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if until(line):
                    return str(line)
    finally:
        response.release_conn()
    raise AssertionError(f"{pod}'s log ended before the awaited line")


def _json(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def progress_at_least(percent: float) -> Callable[[str], bool]:
    """A progress event at or past ``percent`` (as the engine printed it)."""

    def matches(line: str) -> bool:
        event = _json(line)
        return event.get("event") == "progress" and float(event.get("percent", 0)) >= percent

    return matches


def paused_at(point: str) -> Callable[[str], bool]:
    """The engine's line announcing a test pause point (``HLSFORGE_TEST_PAUSE``)."""
    return lambda line: _json(line).get("testPause") == point
