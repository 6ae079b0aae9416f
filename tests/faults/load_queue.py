"""Row 10.2's burst: many TranscodeJobs created at once through the API (as kubectl would),
the transcodes that run sampled all along, and every job checked once the burst settled.

Each job is as cheap as a real job gets: a 1 s 160x90 clip without audio, one rendition
(clamped to the source's size), no poster, a quarter CPU requested.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.faults.invariants import check_settled
from tests.faults.table import FaultRow
from tests.integration.operator_env import Env

RENDITION = {"name": "144p", "height": 144, "videoBitrateKbps": 100}
RESOURCES = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
"""Small enough that four pods fit the 2-CPU node (the default request is one CPU, so only two
would, and the cap would never be what limits the burst)."""
SAMPLE_EVERY = 0.5


def _unfinished(job: Any) -> bool:
    return not any(
        c.type in ("Complete", "Failed") and c.status == "True"
        for c in (job.status.conditions or [])
    )


@dataclass
class Sampler:
    """Every ``SAMPLE_EVERY`` s: the TranscodeJobs whose batch Job has not finished (a slot's
    worth: created, placed or running) and those whose pod runs."""

    env: Env
    jobs: list[set[str]] = field(default_factory=list)
    running: list[set[str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        label = "hlsforge.io/transcodejob"
        while not self._stop.is_set():
            jobs = self.env.api.jobs()
            self.jobs.append({j.metadata.labels.get(label, "") for j in jobs if _unfinished(j)})
            pods = self.env.api.pods()
            self.running.append(
                {p.metadata.labels.get(label, "") for p in pods if p.status.phase == "Running"}
            )
            time.sleep(SAMPLE_EVERY)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


@dataclass
class Burst:
    names: list[str]
    sampler: Sampler
    started: float
    """When the first create was sent (monotonic)."""
    created_in: float
    """Seconds the creates took, all together."""


def create_burst(env: Env, count: int, row: FaultRow) -> Burst:
    """One source per job (a source belongs to one TranscodeJob), then ``count`` creates sent
    by 8 threads at once while the operator runs."""
    clip = env.clip("load.mp4", seconds=1, size="160x90", audio=False)
    names = [f"load-{i:03d}" for i in range(count)]
    for name in names:
        shutil.copyfile(env.media.root / clip, env.media.root / f"uploads/{name}.mp4")

    def create(name: str) -> None:
        env.api.create_tj(
            name,
            source=f"uploads/{name}.mp4",
            output=f"hls/{name}",
            renditions=[RENDITION],
            thumbnails={"poster": False},
            resources=RESOURCES,
        )

    sampler = Sampler(env).start()
    started = time.monotonic()
    row.strike()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))
    created_in = time.monotonic() - started
    row.saw(f"{count} created in {created_in:.1f} s")
    return Burst(names, sampler, started, created_in)


def _settled(env: Env, names: set[str]) -> dict[str, dict[str, Any]] | None:
    """Every status once each job is final (and, if Succeeded, its source deleted)."""
    listed: Any = env.api.custom.list_namespaced_custom_object(
        "hlsforge.io", "v1alpha1", env.namespace, "transcodejobs"
    )
    statuses = {
        str(o["metadata"]["name"]): dict(o.get("status") or {})
        for o in listed["items"]
        if o["metadata"]["name"] in names
    }
    done = [
        s
        for s in statuses.values()
        if s.get("phase") == "Failed" or (s.get("phase") == "Succeeded" and s.get("sourceDeleted"))
    ]
    return statuses if len(done) == len(names) else None


def wait_settled(env: Env, burst: Burst, timeout: float) -> dict[str, dict[str, Any]]:
    names = set(burst.names)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = _settled(env, names)
        if statuses is not None:
            return statuses
        time.sleep(2)
    listed: Any = env.api.custom.list_namespaced_custom_object(
        "hlsforge.io", "v1alpha1", env.namespace, "transcodejobs"
    )
    phases: dict[str, int] = {}
    for o in listed["items"]:
        phase = str((o.get("status") or {}).get("phase"))
        phases[phase] = phases.get(phase, 0) + 1
    raise AssertionError(f"not settled in {timeout:.0f} s: {phases}\n{env.operator.log_tail()}")


def burst_settled(env: Env, burst: Burst, cap: int, row: FaultRow) -> None:
    """Wait for every job to end, then assert the cap held and every job's invariants."""
    count = len(burst.names)
    try:
        statuses = wait_settled(env, burst, timeout=120 + 6.0 * count)
    finally:
        burst.sampler.stop()
    took = time.monotonic() - burst.started
    row.saw(f"all settled in {took:.0f} s: {60 * count / took:.1f} jobs/min")
    phases = {n: s.get("phase") for n, s in statuses.items()}
    assert set(phases.values()) == {"Succeeded"}, {
        n: p for n, p in phases.items() if p != "Succeeded"
    }

    # The cap counts pods that run: a Job whose pod waited for a node holds no slot meanwhile
    # (docs/operator.md), so such jobs are left out, and never more than twice the cap exist.
    events = env.api.core.list_namespaced_event(env.namespace).items
    waited = {str(e.involved_object.name) for e in events if e.reason == "Unschedulable"}
    peak = max(len(s - waited) for s in burst.sampler.jobs)
    running = max(len(s - waited) for s in burst.sampler.running)
    row.saw(
        f"at most {peak} Jobs holding a slot and {running} pods running "
        f"({len(burst.sampler.jobs)} samples; {len(waited)} waited for a node)"
    )
    assert peak <= cap, f"peak {peak} over the cap (waited for a node: {sorted(waited)})"
    assert running <= cap, f"{running} pods ran at once"
    assert max(len(s) for s in burst.sampler.jobs) <= 2 * cap
    assert max(len(s) for s in burst.sampler.running) <= 2 * cap

    def check(name: str) -> list[str]:
        return check_settled(
            env,
            name,
            phase="Succeeded",
            attempts=1,
            source=f"uploads/{name}.mp4",
            output=f"hls/{name}",
        )

    with ThreadPoolExecutor(2) as pool:
        seen = list(pool.map(check, burst.names))
    row.recovered()
    row.saw(f"each of {count}: " + "; ".join(seen[0]))
