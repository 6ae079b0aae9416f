"""Row 3.1: two writers for one job. The Job is deleted with ``--cascade=orphan`` mid-encode,
so its pod runs on, and the operator recreates the Job: two pods transcode the same job into
the same work folder, each in an attempt folder of its own.

What must hold beyond the usual invariants: one commit wins (one pod reports
``committed: true``, the other ``committed: false`` after removing only its own attempt), the
output is published once, both pods count as attempts (2), and the orphan does not outlive the
job (the operator deletes pods no Job controls, ``operator/hlsforge_operator/orphans.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.faults.invariants import check_settled, event_count
from tests.faults.moments import LADDER, job_of, progress_above, running_pod
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster
from tests.integration.harness import wait_for
from tests.integration.operator_env import Env, operator_env_in

pytestmark = pytest.mark.cluster

TJ = "twin"


@pytest.fixture
def env(platform: KubeCluster) -> Iterator[Env]:
    yield from operator_env_in(platform, "f-2w")


@dataclass
class LogFollower:
    """Follows one pod's transcoder log in a thread to its end, so its last line (the
    ``done`` event) is kept even when the pod is deleted right after it ends."""

    env: Env
    pod: str
    raw: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            response: Any = self.env.api.core.read_namespaced_pod_log(
                self.pod,
                self.env.namespace,
                container="transcoder",
                follow=True,
                _preload_content=False,
                _request_timeout=(10, 300),
            )
            for chunk in response.stream(4096):
                self.raw.extend(chunk)
        except Exception as exc:  # the pod went away: what was read is what there is
            self.raw.extend(f"\nlog stream ended: {exc}\n".encode())

    def committed(self) -> bool | None:
        """``committed`` of the pod's ``done`` event; None when it printed none."""
        self.thread.join(timeout=60)
        for line in reversed(self.raw.decode(errors="replace").splitlines()):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "committed" in event:
                return bool(event["committed"])
        return None


def _pod_gone(env: Env, name: str) -> bool:
    try:
        env.api.core.read_namespaced_pod(name, env.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def test_job_orphaned_mid_encode_and_recreated(
    env: Env, fault_row: Callable[..., FaultRow]
) -> None:
    row = fault_row(
        "3.1",
        fault="Job orphaned (--cascade=orphan), recreated: two writers",
        when="mid-encode",
        must_hold="Succeeded, attempts 2, one commit wins, loser removes only its attempt, "
        "orphan deleted, source deleted once after it",
    )
    source = env.clip("twin.mp4", seconds=20, size="640x360", noise=True)
    env.api.create_tj(TJ, source=source, output=f"hls/{TJ}", renditions=LADDER)
    orphan = running_pod(env, TJ)
    uid = str(env.api.tj(TJ)["metadata"]["uid"])  # type: ignore[index]
    work = env.media.root / ".hlsforge" / "work" / uid
    old = job_of(env, TJ)
    row.saw(f"orphaned at {progress_above(env, TJ, 10):.0f} %")
    followers = {"orphan": LogFollower(env, orphan.metadata.name)}
    env.api.batch.delete_namespaced_job(
        old.metadata.name, env.namespace, propagation_policy="Orphan"
    )
    row.strike()

    def new_job() -> Any:
        job = job_of(env, TJ)
        return job if job.metadata.uid != old.metadata.uid else None

    job = wait_for("the recreated Job", new_job, timeout=120)
    most_attempt_folders = 0

    def settled() -> bool:
        nonlocal most_attempt_folders
        attempts = list(work.glob("out.tmp-*")) if work.is_dir() else []
        most_attempt_folders = max(most_attempt_folders, len(attempts))
        if "new" not in followers:
            pods = env.api.pods(f"batch.kubernetes.io/controller-uid={job.metadata.uid}")
            if pods and pods[0].status.phase != "Pending":
                followers["new"] = LogFollower(env, pods[0].metadata.name)
        return env.api.status(TJ).get("phase") in ("Succeeded", "Failed")

    wait_for(f"{TJ} to end", settled, timeout=300, every=0.2)
    row.saw(f"orphan pod ran on beside the new Job; {most_attempt_folders} attempt folders at once")
    env.wait_source_deleted(TJ)
    wait_for("the orphan pod deleted", lambda: _pod_gone(env, orphan.metadata.name), timeout=60)
    seen = check_settled(env, TJ, phase="Succeeded", attempts=2, source=source, output=f"hls/{TJ}")
    assert not work.exists(), f"{work} outlived the job"
    row.recovered()

    verdicts = {who: f.committed() for who, f in followers.items()}
    assert sorted(v for v in verdicts.values() if v is not None) == [False, True], verdicts
    row.saw(", ".join(f"{who} committed={v}" for who, v in sorted(verdicts.items())))
    assert event_count(env.api, TJ, "JobRecreated") == 1
    assert job_of(env, TJ).metadata.uid == job.metadata.uid, "not the recreated Job"
    row.saw("orphan pod deleted by the operator, JobRecreated once")
    for what in seen:
        row.saw(what)
