"""Rows 9.x: a TranscodeJob deleted mid-encode and at the moment of its commit.

What must hold: its pods and its Job gone, nothing of it left on the volume (no output, no
``DEST.tmp-*`` attempt, no work folder, no claim), the source kept; and nothing appears
afterwards (a pod still writing after the operator's cleanup would show, as a user saw under
load before the cleanup waited for every pod of the job to end: ``operator/teardown.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.faults.invariants_deleted import check_deleted, leftovers
from tests.faults.moments import LADDER, progress_above, running_pod
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster
from tests.integration.harness import wait_for
from tests.integration.operator_env import Env, operator_env_in

pytestmark = pytest.mark.cluster

MUST_HOLD = "its pods and Job gone, no output/attempt/work folder/claim left, source kept"
PAUSE_S = 60
"""The transcoder's test-only pause before its commit: far longer than the row needs."""


@pytest.fixture
def env(platform: KubeCluster) -> Iterator[Env]:
    yield from operator_env_in(platform, "f-del")


@pytest.fixture
def paused(platform: KubeCluster) -> Iterator[Env]:
    """Transcoder pods stop ``PAUSE_S`` seconds between their verified output and its rename
    (``HLSFORGE_TEST_PAUSE``, test only, passed on by the operator)."""
    yield from operator_env_in(platform, "f-delc", HLSFORGE_TEST_PAUSE=f"before-commit:{PAUSE_S}")


def _delete_and_wait_gone(env: Env, name: str) -> str:
    """Delete the TranscodeJob; wait until the API server no longer has it. Its uid."""
    found = env.api.tj(name)
    assert found is not None
    uid = str(found["metadata"]["uid"])
    env.api.delete_tj(name)
    wait_for(f"{name} to be deleted", lambda: env.api.tj(name) is None, timeout=150, every=0.2)
    return uid


def _paused_before_commit(env: Env, pod: Any) -> bool:
    log = env.api.core.read_namespaced_pod_log(pod.metadata.name, env.namespace)
    return any(
        line.startswith("{") and json.loads(line).get("testPause") == "before-commit"
        for line in str(log).splitlines()
        if "testPause" in line
    )


def test_deleted_mid_encode(env: Env, fault_row: Callable[..., FaultRow]) -> None:
    row = fault_row("9.1", fault="TranscodeJob deleted", when="mid-encode", must_hold=MUST_HOLD)
    source = env.clip("mid.mp4", seconds=20, size="640x360", noise=True)
    env.api.create_tj("mid", source=source, output="hls/mid", renditions=LADDER)
    running_pod(env, "mid")
    row.saw(f"deleted at {progress_above(env, 'mid', 30):.0f} %")
    row.strike()
    uid = _delete_and_wait_gone(env, "mid")
    assert leftovers(env, "mid", uid, source=source, output="hls/mid") == []
    row.recovered()
    seen = check_deleted(env, "mid", uid, source=source, output="hls/mid")
    for what in seen:
        row.saw(what)


def test_deleted_at_the_commit(paused: Env, fault_row: Callable[..., FaultRow]) -> None:
    env = paused
    row = fault_row(
        "9.2",
        fault="TranscodeJob deleted",
        when="at the commit (output verified, not yet renamed)",
        must_hold=MUST_HOLD,
    )
    source = env.clip("commit.mp4", seconds=6, size="640x360", noise=True)
    env.api.create_tj("commit", source=source, output="hls/commit", renditions=LADDER)
    pod = running_pod(env, "commit")
    wait_for("the pod to pause before its commit", lambda: _paused_before_commit(env, pod),
             timeout=240, every=0.5)  # fmt: skip
    row.saw(f"paused before its commit ({PAUSE_S} s window)")
    row.strike()
    struck = time.monotonic()
    uid = _delete_and_wait_gone(env, "commit")
    took = time.monotonic() - struck
    row.saw(f"gone in {took:.0f} s")
    # Stopped inside its pause, not after it: a deletion that waits for the pod to finish on
    # its own (the operator's event loop once froze on the paused pod's silent log) fails.
    assert took < PAUSE_S / 2, f"the deletion took {took:.0f} s of the {PAUSE_S} s pause"
    assert leftovers(env, "commit", uid, source=source, output="hls/commit") == []
    row.recovered()
    seen = check_deleted(env, "commit", uid, source=source, output="hls/commit")
    for what in seen:
        row.saw(what)
