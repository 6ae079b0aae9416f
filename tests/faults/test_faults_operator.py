"""Rows 1.x: the operator SIGKILLed (every replica) at each step of a job."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.faults.invariants import check_settled
from tests.faults.moments import LADDER, job_of, progress_above, running_pod
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster
from tests.integration.operator_env import Env, operator_env_in

pytestmark = pytest.mark.cluster

MUST_HOLD = "Succeeded, attempts 1, one Job, one verified output, source deleted once after it"


@pytest.fixture
def env(platform: KubeCluster) -> Iterator[Env]:
    yield from operator_env_in(platform, "f-op")


def test_operator_sigkilled_mid_encode(env: Env, fault_row: Callable[..., FaultRow]) -> None:
    row = fault_row("1.2", fault="operator SIGKILL", when="mid-encode", must_hold=MUST_HOLD)
    source = env.clip("mid.mp4", seconds=20, size="640x360", noise=True)
    env.api.create_tj("mid", source=source, output="hls/mid", renditions=LADDER)
    running_pod(env, "mid")
    row.saw(f"killed at {progress_above(env, 'mid', 5):.0f} %")
    job = job_of(env, "mid")
    env.operator.kill()
    row.strike()
    time.sleep(3)
    env.operator = env.new_operator("restarted").start()
    env.wait_phase("mid", {"Succeeded", "Failed"}, timeout=300)
    env.wait_source_deleted("mid")
    seen = check_settled(env, "mid", phase="Succeeded", attempts=1, source=source, output="hls/mid")
    row.recovered()
    assert job_of(env, "mid").metadata.uid == job.metadata.uid, "a second Job was made"
    for what in seen:
        row.saw(what)
