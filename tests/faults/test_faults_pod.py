"""Rows 2.x and 4.x: the transcoder pod killed outright (SIGKILL of every process of its
container, as the OOM killer or a crash does) at points of its progress and inside its commit;
evicted through the eviction API; OOM-killed by its memory limit.

Each row strikes on what the pod itself printed (a progress line, a test pause point), read
from its log by the test, so the moment does not depend on the operator's status lag."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.faults.invariants import check_settled, job_work_folder
from tests.faults.moments import LADDER, progress_above, running_pod
from tests.faults.pod_kill import follow_log, paused_at, progress_at_least, sigkill_container
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster
from tests.integration.harness import wait_for
from tests.integration.operator_env import Env, operator_env_in

pytestmark = pytest.mark.cluster

MUST_HOLD = (
    "Succeeded, attempts 2, one verified output, source deleted once after it, no work folder left"
)
PAUSE_S = 20
"""How long the engine stops at a commit pause point: the window the kill must fall in."""


@contextlib.contextmanager
def environment(platform: KubeCluster, **settings: str) -> Iterator[Env]:
    yield from operator_env_in(platform, "f-pod", **settings)


def _ended(env: Env, pod: str) -> Any:
    """The container state of a pod once its transcoder container terminated."""

    def terminated() -> Any:
        found: Any = env.api.core.read_namespaced_pod(pod, env.namespace)
        for status in found.status.container_statuses or []:
            if status.name == "transcoder" and status.state.terminated is not None:
                return status.state.terminated
        return None

    return wait_for(f"{pod} to end", terminated, timeout=180)


def _killed(env: Env, row: FaultRow, pod: Any, name: str) -> list[str]:
    """SIGKILL the pod's container; what its attempt left in the job's work folder."""
    processes = sigkill_container(pod)
    row.strike()
    ended = _ended(env, pod.metadata.name)
    row.saw(f"{processes} processes SIGKILLed, pod ended {ended.exit_code} {ended.reason}")
    assert ended.exit_code == 137, ended
    folder = job_work_folder(env, name)
    assert folder is not None
    left = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    shown = sorted({"out.tmp-*" if ".tmp-" in n else n for n in left})
    row.saw(f"the killed attempt left {', '.join(shown) or 'nothing'}")
    return left


def _settled(env: Env, row: FaultRow, name: str, source: str, **expect: Any) -> None:
    env.wait_phase(name, {"Succeeded", "Failed"}, timeout=300)
    if expect.get("phase", "Succeeded") == "Succeeded":
        env.wait_source_deleted(name)
    seen = check_settled(
        env,
        name,
        phase=expect.get("phase", "Succeeded"),
        attempts=expect.get("attempts", 2),
        source=source,
        output=f"hls/{name}",
    )
    row.recovered()
    for what in seen:
        row.saw(what)


def _percent(line: str) -> float:
    return float(json.loads(line)["percent"])


SLOW = {"limits": {"cpu": "300m"}}
"""A CPU limit that slows the encode: progress lines (every 0.5 s of wall time) then come in
steps of about 2 % of an 8 s clip (unslowed, 5..12 % of a 20 s one were seen), so the kill
lands within a step of the mark: at ~10 % before much is written, at 97..99 % with the last
segment and the commit still ahead, whatever the load."""


@pytest.mark.parametrize(
    ("number", "when", "percent", "seconds", "resources"),
    [
        ("2.1", "~10 %", 10.0, 8, SLOW),
        ("2.2", "~50 %", 50.0, 8, SLOW),
        ("2.3", "~99 %", 97.0, 8, SLOW),
    ],
)
def test_transcoder_pod_sigkilled_at_progress(
    platform: KubeCluster,
    fault_row: Callable[..., FaultRow],
    number: str,
    when: str,
    percent: float,
    seconds: int,
    resources: dict[str, Any] | None,
) -> None:
    row = fault_row(number, fault="transcoder pod SIGKILL", when=when, must_hold=MUST_HOLD)
    name = f"kill{number.replace('.', '')}"
    extra = {"resources": resources} if resources else {}
    with environment(platform) as env:
        source = env.clip(f"{name}.mp4", seconds=seconds, size="640x360", noise=True)
        env.api.create_tj(name, source=source, output=f"hls/{name}", renditions=LADDER, **extra)
        pod = running_pod(env, name)
        line = follow_log(env, pod.metadata.name, progress_at_least(percent))
        row.saw(f"killed at {_percent(line):.1f} %")
        left = _killed(env, row, pod, name)
        assert any(".tmp-" in n for n in left) and "out" not in left, left
        _settled(env, row, name, source)
        job: Any = env.api.batch.read_namespaced_job(f"{name}-transcode", env.namespace)
        assert job.status.failed == 1, job.status


@pytest.mark.parametrize(
    ("point", "when"),
    [
        ("before-commit", "during the commit (output verified, before the rename)"),
        ("after-commit", "during the commit (renamed, before it is reported)"),
    ],
)
def test_transcoder_pod_sigkilled_during_the_commit(
    platform: KubeCluster, fault_row: Callable[..., FaultRow], point: str, when: str
) -> None:
    row = fault_row("2.4", fault="transcoder pod SIGKILL", when=when, must_hold=MUST_HOLD)
    name = point.replace("-", "")
    with environment(platform, HLSFORGE_TEST_PAUSE=f"{point}:{PAUSE_S}") as env:
        source = env.clip(f"{name}.mp4", seconds=6, size="640x360", noise=True)
        env.api.create_tj(name, source=source, output=f"hls/{name}", renditions=LADDER)
        pod = running_pod(env, name)
        follow_log(env, pod.metadata.name, paused_at(point))
        left = _killed(env, row, pod, name)
        committed = point == "after-commit"
        assert ("out" in left) is committed and any(".tmp-" in n for n in left) is not committed
        _settled(env, row, name, source)


def test_transcoder_pod_evicted_mid_encode(
    platform: KubeCluster, fault_row: Callable[..., FaultRow]
) -> None:
    row = fault_row(
        "4.1",
        fault="eviction (eviction API)",
        when="mid-encode",
        must_hold="Succeeded, the evicted attempt not counted against maxRetries 0, "
        "attempts 2, one verified output, source deleted once after it",
    )
    with environment(platform) as env:
        source = env.clip("evict.mp4", seconds=20, size="640x360", noise=True)
        env.api.create_tj(
            "evict", source=source, output="hls/evict", renditions=LADDER, maxRetries=0
        )
        pod = running_pod(env, "evict")
        row.saw(f"evicted at {progress_above(env, 'evict', 30):.0f} %")
        eviction = client.V1Eviction(
            metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=env.namespace)
        )
        env.api.core.create_namespaced_pod_eviction(pod.metadata.name, env.namespace, eviction)
        row.strike()
        _settled(env, row, "evict", source)
        job: Any = env.api.batch.read_namespaced_job("evict-transcode", env.namespace)
        assert not job.status.failed, job.status
        row.saw("Job counted no failure")


OOM_LADDER = [
    {"name": "720p", "height": 720, "videoBitrateKbps": 2800},
    {"name": "360p", "height": 360, "videoBitrateKbps": 800},
]
"""Decoding 720p and encoding two rungs takes ffmpeg ~200 MB: far above the limit below."""


def test_transcoder_container_oom_killed(
    platform: KubeCluster, fault_row: Callable[..., FaultRow]
) -> None:
    row = fault_row(
        "4.2",
        fault="transcoder container OOM-killed",
        when="mid-encode, every attempt (memory limit 128Mi)",
        must_hold="retried (maxRetries 1), then Failed OOMKilled with a message to raise "
        "memory; attempts 2; source kept; no output, work folder or running pod left",
    )
    with environment(platform) as env:
        source = env.clip("oom.mp4", seconds=6, size="1280x720", noise=True)
        env.api.create_tj(
            "oom",
            source=source,
            output="hls/oom",
            renditions=OOM_LADDER,
            maxRetries=1,
            resources={"requests": {"memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        )
        first = wait_for(
            "oom's first pod", lambda: env.api.pods("hlsforge.io/transcodejob=oom"), 120
        )
        ended = _ended(env, first[0].metadata.name)
        row.strike()
        row.saw(f"first attempt ended {ended.exit_code} {ended.reason}")
        assert ended.reason == "OOMKilled", ended
        status = env.wait_phase("oom", {"Succeeded", "Failed"}, timeout=300)
        _settled_failed = check_settled(
            env, "oom", phase="Failed", attempts=2, source=source, output="hls/oom"
        )
        row.recovered()
        assert status["reason"] == "OOMKilled", status
        assert "spec.resources.limits.memory" in status["message"], status["message"]
        row.saw(f"reason {status['reason']}: {status['message'][:60]}...")
        for what in _settled_failed:
            row.saw(what)
