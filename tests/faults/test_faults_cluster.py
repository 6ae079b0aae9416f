"""Rows 5.x: one part of the cluster (kube-apiserver, etcd, kubelet, containerd) restarted in
place mid-encode, with ``hack/cluster.py restart``.

Disruptive: every other user of the cluster feels the restart, so these rows run alone (the
``disruptive`` marker; ``make faults`` runs them after the parallel rows) and under the cluster
lock every cluster test session holds. The restart command returns once the whole cluster is
healthy again (apiserver ready, node Ready), so the rows leave it as they found it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.faults.invariants import check_settled
from tests.faults.moments import LADDER, progress_above, running_pod
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster, run_cluster_py
from tests.integration.harness import wait_for
from tests.integration.operator_env import Env, operator_env_in

pytestmark = [pytest.mark.cluster, pytest.mark.disruptive]

MUST_HOLD = (
    "Succeeded, attempts 1, same transcoder pod, one verified output, source deleted once "
    "after it; operator alive and reconciling"
)
ENDED = {"Succeeded", "Failed"}


@dataclass(frozen=True)
class Part:
    number: str
    component: str
    """The name ``hack/cluster.py restart`` takes."""
    fault: str
    seconds: int
    """Clip length: the encode must outlast the restart (the API server takes ~25 s to be
    ready again, etcd ~10 s, the kubelet and containerd ~2 s) with progress still to make."""


PARTS = [
    Part("5.1", "apiserver", "kube-apiserver restart", 75),
    Part("5.2", "etcd", "etcd restart", 45),
    Part("5.3", "kubelet", "kubelet restart", 30),
    Part("5.4", "containerd", "containerd restart", 30),
]


@pytest.fixture
def env(platform: KubeCluster) -> Iterator[Env]:
    yield from operator_env_in(platform, "f-cl")


def restart(component: str) -> float:
    """Restart one component in place; returns once the cluster is healthy again."""
    began = time.monotonic()
    done = run_cluster_py("restart", component, timeout=300)
    assert done.returncode == 0, f"restart {component}:\n{done.stderr[-4000:]}"
    return time.monotonic() - began


def container_of(pod: Any) -> tuple[str, str, int]:
    """(pod uid, container id, restart count) of the transcoder container."""
    status = (pod.status.container_statuses or [None])[0]
    assert status is not None, f"{pod.metadata.name} has no container status"
    return pod.metadata.uid, str(status.container_id), int(status.restart_count)


def progress_moved(env: Env, name: str, since: float, timeout: float = 30) -> float:
    """Wait until ``status.progress`` passes ``since`` while the job still runs: the
    operator kept following the transcoder's log and writing status after the fault. Status
    is written every second; 30 s is generous, and shorter than kopf's default 60 s retry
    delay that froze status after the API server restarted."""

    def moved() -> float | None:
        status = env.api.status(name)
        assert status.get("phase") not in ENDED, (
            f"{name} ended ({status.get('phase')}) before its progress moved past {since} "
            "after the restart: progress was not followed any more (or the encode ended "
            "while the cluster was restarting: then lengthen the part's clip)"
        )
        progress = float(status.get("progress") or 0)
        return progress if progress > since else None

    return wait_for(f"{name} progress past {since} after the restart", moved, timeout, 0.5)


@pytest.mark.parametrize("part", PARTS, ids=[p.component for p in PARTS])
def test_cluster_part_restarted_mid_encode(
    env: Env, fault_row: Callable[..., FaultRow], part: Part
) -> None:
    row = fault_row(part.number, fault=part.fault, when="mid-encode", must_hold=MUST_HOLD)
    name = f"r-{part.component}"
    # A slow preset and a clip as long as the part needs keep the encode running well past
    # the restart, so progress can be seen to move again afterwards.
    source = env.clip(f"{name}.mp4", seconds=part.seconds, size="640x360", noise=True)
    env.api.create_tj(name, source=source, output=f"hls/{name}", renditions=LADDER,
                      video={"preset": "slow"})  # fmt: skip
    pod = running_pod(env, name)
    before = container_of(pod)
    row.saw(f"restarted at {progress_above(env, name, 3):.0f} %")

    row.strike()
    took = restart(part.component)
    row.saw(f"cluster healthy again after {took:.0f} s")
    assert env.operator.proc is not None and env.operator.proc.poll() is None, (
        f"the operator exited during the {part.component} restart:\n{env.operator.log_tail()}"
    )
    status = env.api.status(name)
    assert status.get("phase") not in ENDED, f"the encode ended during the restart: {status}"
    since = float(status.get("progress") or 0)
    moved = progress_moved(env, name, since)
    row.saw(f"operator alive, progress {since:.0f} -> {moved:.0f} % after it")

    same = [p for p in env.api.pods(f"hlsforge.io/transcodejob={name}")]
    assert [p.metadata.uid for p in same] == [before[0]], "the transcoder pod was replaced"
    after = container_of(same[0])
    assert after == before, f"transcoder container changed: {before} -> {after}"
    row.saw("transcoder pod survived (same container, 0 restarts)")

    env.wait_phase(name, ENDED, timeout=300)
    env.wait_source_deleted(name)
    seen = check_settled(
        env, name, phase="Succeeded", attempts=1, source=source, output=f"hls/{name}"
    )
    row.recovered()
    for what in seen:
        row.saw(what)
