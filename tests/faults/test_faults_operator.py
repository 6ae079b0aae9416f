"""Rows 1.x: the operator SIGKILLed (every replica) at each step of a job.

Each row runs two peered replicas (one active, one standing by, as the chart's Deployment of
two does) and kills both at once: killing only the active one is the hand-over, not a lost
operator. The narrow moments are held open by the operator's test-only failpoints
(``HLSFORGE_FAILPOINTS``, docs/operator.md): the active replica logs that it reached the point
and blocks there; the row then kills the pair and starts a new one without failpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.faults.invariants import check_settled
from tests.faults.moments import LADDER, job_of, progress_above, running_pod
from tests.faults.replicas import Replicas
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster
from tests.integration.operator_env import Env, operator_env_in

pytestmark = pytest.mark.cluster

MUST_HOLD = (
    "Succeeded, attempts 1, one Job (same uid), one verified output, source deleted once after it"
)


@pytest.fixture
def env(platform: KubeCluster) -> Iterator[Env]:
    yield from operator_env_in(platform, "f-op")


@pytest.fixture
def replicas(env: Env) -> Iterator[Replicas]:
    pair = Replicas(env)
    try:
        yield pair
    finally:
        pair.stop()


def _jobs(env: Env, tj: str) -> list[Any]:
    return list(
        env.api.batch.list_namespaced_job(
            env.namespace, label_selector=f"hlsforge.io/transcodejob={tj}"
        ).items
    )


def _settle(env: Env, row: FaultRow, tj: str, source: str, job_uid: str | None) -> None:
    """After the restart: the job settles with every invariant, on the Job it had (if any)."""
    env.wait_phase(tj, {"Succeeded", "Failed"}, timeout=300)
    env.wait_source_deleted(tj)
    seen = check_settled(env, tj, phase="Succeeded", attempts=1, source=source, output=f"hls/{tj}")
    row.recovered()
    jobs = _jobs(env, tj)
    assert len(jobs) == 1, [j.metadata.name for j in jobs]
    if job_uid is not None:
        assert jobs[0].metadata.uid == job_uid, "a second Job was made"
        seen.append("the same Job")
    for what in seen:
        row.saw(what)


def test_operator_sigkilled_mid_encode(
    env: Env, replicas: Replicas, fault_row: Callable[..., FaultRow]
) -> None:
    row = fault_row(
        "1.2", fault="operator SIGKILL (both replicas)", when="mid-encode", must_hold=MUST_HOLD
    )
    replicas.start()
    source = env.clip("mid.mp4", seconds=20, size="640x360", noise=True)
    env.api.create_tj("mid", source=source, output="hls/mid", renditions=LADDER)
    running_pod(env, "mid")
    row.saw(f"killed at {progress_above(env, 'mid', 5):.0f} %")
    job = job_of(env, "mid")
    replicas.kill_all()
    row.strike()
    replicas.start()
    _settle(env, row, "mid", source, job.metadata.uid)


def _paused_before_job_create(env: Env, tj: str, row: FaultRow) -> str | None:
    assert _jobs(env, tj) == [], "the Job was created before the failpoint"
    row.saw(f"paused with no Job, phase {env.api.status(tj).get('phase') or 'none'}")
    return None


def _paused_before_verify(env: Env, tj: str, row: FaultRow) -> str | None:
    (job,) = _jobs(env, tj)
    done = {c.type for c in job.status.conditions or [] if c.status == "True"}
    assert "Complete" in done, done
    assert env.api.status(tj).get("phase") == "Running", env.api.status(tj)
    assert not (env.media.root / "hls" / tj).exists(), "published before verify"
    row.saw("paused: Job Complete, phase Running, nothing published")
    return str(job.metadata.uid)


def _paused_before_source_delete(env: Env, tj: str, row: FaultRow) -> str | None:
    status = env.api.status(tj)
    assert status.get("phase") == "Succeeded" and not status.get("sourceDeleted"), status
    assert (env.media.root / "uploads" / f"{tj}.mp4").exists(), "the source went early"
    row.saw("paused: Succeeded persisted, source still there")
    (job,) = _jobs(env, tj)
    return str(job.metadata.uid)


@pytest.mark.parametrize(
    ("number", "point", "when", "paused"),
    [
        ("1.1", "before-job-create", "before the Job is created", _paused_before_job_create),
        ("1.3", "before-verify", "Job completed, before verify", _paused_before_verify),
        (
            "1.4",
            "before-source-delete",
            "Succeeded persisted, before the source delete",
            _paused_before_source_delete,
        ),
    ],
    ids=["before-job-create", "before-verify", "before-source-delete"],
)
def test_operator_sigkilled_at_a_failpoint(
    env: Env,
    replicas: Replicas,
    fault_row: Callable[..., FaultRow],
    number: str,
    point: str,
    when: str,
    paused: Callable[[Env, str, FaultRow], str | None],
) -> None:
    row = fault_row(
        number, fault="operator SIGKILL (both replicas)", when=when, must_hold=MUST_HOLD
    )
    tj = point.replace("-", "")[:20]
    replicas.start(HLSFORGE_FAILPOINTS=f"{point}=pause")
    source = env.clip(f"{tj}.mp4", seconds=4, size="320x180", noise=True)
    env.api.create_tj(tj, source=source, output=f"hls/{tj}", renditions=LADDER)
    replicas.wait_log(f"failpoint {point} reached")
    job_uid = paused(env, tj, row)
    replicas.kill_all()
    row.strike()
    replicas.start()
    _settle(env, row, tj, source, job_uid)
