"""An honest queue on the real cluster (real scheduler, real kubelet): a job whose pod no node
can take is not Running and holds no slot, gives its slot back after a timeout, and fails
``Unschedulable`` once its requeues are spent; and following many pods' logs never stalls the
operator's other work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import KubeCluster
from tests.integration.harness import prepare_platform, wait_for
from tests.integration.operator_env import Env, operator_env_in

pytestmark = pytest.mark.cluster

ONE_RENDITION = {
    "renditions": [{"name": "180p", "height": 180, "videoBitrateKbps": 300}],
    "thumbnails": {"poster": False},
    "sourcePolicy": "Retain",
}
# More CPU than any node of this 2-CPU cluster has, within the per-job maximum (8 by default).
HUGE = {"requests": {"cpu": "8"}, "limits": {"cpu": "8"}}
# Slow and cheap: a tenth of a core, so a clip takes a while and many pods fit on 2 CPUs.
SLOW = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "100m"}}


@pytest.fixture(scope="module")
def platform(kube_cluster: KubeCluster) -> KubeCluster:
    prepare_platform(kube_cluster)
    return kube_cluster


@pytest.fixture
def one_slot(platform: KubeCluster) -> Iterator[Env]:
    yield from operator_env_in(
        platform,
        "queue",
        HLSFORGE_MAX_RUNNING="1",
        HLSFORGE_UNSCHEDULABLE_TIMEOUT_SECONDS="10",
        HLSFORGE_UNSCHEDULABLE_REQUEUES="1",
    )


def _scheduled(status: dict[str, Any]) -> dict[str, Any]:
    found = [c for c in status.get("conditions") or [] if c["type"] == "Scheduled"]
    return found[0] if found else {}


def test_an_unschedulable_job_waits_pending_then_is_requeued_then_fails(one_slot: Env) -> None:
    env = one_slot
    env.api.create_tj(
        "huge", source=env.clip("huge.mp4", 2), output="hls/huge", resources=HUGE, **ONE_RENDITION
    )

    def unschedulable() -> dict[str, Any] | None:
        status = env.api.status("huge")
        scheduled = _scheduled(status)
        # (A fresh namespace's claim may not be bound yet: the scheduler says so first.)
        found = scheduled.get("reason") == "Unschedulable" and "cpu" in scheduled["message"]
        return status if found else None

    status = wait_for("huge to wait for a node", unschedulable, timeout=60)
    assert status["phase"] == "Pending", status
    assert "Insufficient cpu" in _scheduled(status)["message"], status
    assert "Insufficient cpu" in status["message"]

    # max_running is 1, and the job waiting for a node does not hold it: a normal job runs.
    # This one runs past huge's timeout (a slow pod), so huge is requeued while it runs ...
    env.api.create_tj(
        "first",
        source=env.clip("first.mp4", 20, size="640x360", noise=True),
        output="hls/first",
        resources={"limits": {"cpu": "300m"}},
        **ONE_RENDITION,
    )
    # ... and this one waits in the queue meanwhile: created before huge's requeue, it must
    # run before huge gets a slot again.
    env.api.create_tj(
        "second", source=env.clip("second.mp4", 2), output="hls/second", **ONE_RENDITION
    )
    samples: list[tuple[str, str, str, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            huge = env.api.status("huge")
            samples.append(
                (
                    huge.get("phase", ""),
                    env.api.status("first").get("phase", ""),
                    env.api.status("second").get("phase", ""),
                    int(huge.get("requeues") or 0),
                )
            )
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        first = env.wait_phase("first", {"Succeeded", "Failed"}, timeout=300)
        second = env.wait_phase("second", {"Succeeded", "Failed"}, timeout=180)
        final = env.wait_phase("huge", {"Failed", "Succeeded"}, timeout=180)
    finally:
        stop.set()
        sampler.join(timeout=5)
    assert first["phase"] == "Succeeded", first
    assert second["phase"] == "Succeeded", second
    # Both ran while huge waited for a node: Pending, never Running, and no slot taken.
    assert ("Pending", "Running", "Queued", 0) in samples, samples[:50]
    # huge went back to the queue while "first" ran, and "second", which was waiting then,
    # ran before huge got a slot again.
    assert ("Queued", "Running", "Queued", 1) in samples, samples
    # (Once second's pod ends its slot is free again, before its status says Succeeded.)
    started = next(i for i, s in enumerate(samples) if s[2] == "Running")
    assert samples[started][0] == "Queued" and samples[started][3] == 1, samples[started]
    overtaken = [s for s in samples[:started] if s[3] == 1 and s[0] != "Queued"]
    assert not overtaken, overtaken

    assert final["phase"] == "Failed", final
    assert final["reason"] == "Unschedulable"
    assert final["requeues"] == 1
    assert "Insufficient cpu" in final["message"]
    reasons = env.api.events("huge")
    for reason in ("Unschedulable", "Requeued", "TranscodeFailed"):
        assert reason in reasons, reasons
    # Its Job was given back: nothing of it waits for a node any more.
    wait_for(
        "huge's Job to be deleted",
        lambda: not [j for j in env.api.jobs() if j.metadata.name == "huge-transcode"] or None,
        timeout=60,
    )
    assert (env.media.root / "uploads/huge.mp4").exists()


@pytest.fixture
def many(platform: KubeCluster) -> Iterator[Env]:
    yield from operator_env_in(platform, "streams", HLSFORGE_MAX_RUNNING="10")


def test_status_still_flows_while_more_logs_are_followed_than_the_executor_has_threads(
    many: Env,
) -> None:
    """Eight pods running hold eight log streams; the default executor has min(32, cpus + 4)
    threads (6 on this 2-CPU node). The operator's other blocking calls must still run."""
    env = many
    env.clip("long.mp4", 60, audio=False)
    names = [f"long-{i}" for i in range(8)]
    for name in names:
        (env.media.root / f"uploads/{name}.mp4").write_bytes(
            (env.media.root / "uploads/long.mp4").read_bytes()
        )
        env.api.create_tj(
            name, source=f"uploads/{name}.mp4", output=f"hls/{name}", resources=SLOW,
            **ONE_RENDITION,
        )  # fmt: skip
    wait_for(
        "eight pods running",
        lambda: len([p for p in env.api.pods() if p.status.phase == "Running"]) >= 8 or None,
        timeout=180,
        every=1,
    )
    time.sleep(5)  # each job's daemon opens its pod's log within a second or two
    # Refusing a job needs the storage (blocking calls in the default executor).
    env.api.create_tj("late", source="uploads/absent.mp4", output="hls/late")
    refused = env.wait_phase("late", {"Failed", "Succeeded", "Running"}, timeout=30)
    assert refused["phase"] == "Failed", refused
    # And progress keeps reaching the statuses of the jobs whose logs are followed.
    before = {n: float(env.api.status(n).get("progress") or 0) for n in names}
    wait_for(
        "progress of every running job to move",
        lambda: (
            all(
                float(env.api.status(n).get("progress") or 0) > before[n]
                or env.api.status(n).get("phase") != "Running"
                for n in names
            )
            or None
        ),
        timeout=30,
        every=1,
    )
    for name in names:
        env.api.delete_tj(name)
