"""Rows 7.x: the S3 server down (connections closed unanswered), answering ``503 SlowDown`` or
slow, during the transcoder pod's publish, the operator's verify and its source delete. A
fault proxy (``s3_fault_proxy.py``) stands in front of the real server (versitygw in the
namespace); every client of the platform goes through it, the assertions do not.

Each fault is aimed at the requests of one step only (a method and a key pattern) and switched
on and off at an observed moment: the first request the rule caught, a pod that failed, the
operator's retries seen at the proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hlsforge_storage.locations import S3Uri
from tests.faults.invariants_s3 import check_settled_s3
from tests.faults.s3_proxy_cluster import ProxiedS3
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster
from tests.integration.harness import (
    ARTIFACTS,
    OperatorProcess,
    free_port,
    make_clip,
    operator_env,
    wait_for,
)
from tests.integration.operator_env import Api, wait_phase_or_log
from tests.integration.s3_cluster import ClusterS3

pytestmark = pytest.mark.cluster

BUCKET = "media"
LADDER = [{"name": "180p", "height": 180, "videoBitrateKbps": 300}]
MUST_HOLD = (
    "Succeeded once S3 is back, {attempts}; one commit naming one version that verifies and "
    "decodes, no other version, no multipart upload; source deleted once after the commit"
)


@dataclass
class S3Env:
    cluster: KubeCluster
    namespace: str
    api: Api
    server: ClusterS3
    proxy: ProxiedS3
    operator: OperatorProcess
    tmp: Path

    def wait_phase(self, name: str, timeout: float = 240) -> dict[str, Any]:
        phases = {"Succeeded", "Failed"}
        return wait_phase_or_log(self.api, self.operator, name, phases, timeout)

    def put_clip(self, name: str, seconds: float = 2) -> S3Uri:
        clip = make_clip(self.tmp / name, seconds, size="320x180")
        uri = S3Uri(BUCKET, f"uploads/{name}")
        assert self.server.objects().put(uri, clip)
        return uri

    def job(self, name: str) -> tuple[S3Uri, S3Uri]:
        source, output = self.put_clip(f"{name}.mp4"), S3Uri(BUCKET, f"hls/{name}")
        self.api.create_tj(name, source=str(source), output=str(output), renditions=LADDER)
        return source, output

    def settled_source_deleted(self, name: str) -> None:
        wait_for(f"{name}'s source deleted", lambda: self.api.status(name).get("sourceDeleted"), 60)

    def recovered(
        self, row: FaultRow, name: str, source: S3Uri, output: S3Uri, attempts: int
    ) -> None:
        """The job Succeeded: once its source is gone, every S3 invariant holds (the row's
        recovery ends there) and what was seen goes into the row."""
        self.settled_source_deleted(name)
        seen = check_settled_s3(self.api, self.server, name, phase="Succeeded",
                                attempts=attempts, source=source, output=output)  # fmt: skip
        row.recovered()
        for what in seen:
            row.saw(what)


@pytest.fixture(scope="module")
def s3env(platform: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Env]:
    namespace = platform.create_namespace("f-s3")
    platform.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    server = ClusterS3(platform, namespace)
    proxy = ProxiedS3(server)
    try:
        server.start(BUCKET)
        proxy.start()
        settings = operator_env(platform, namespace, Path("/nonexistent"), free_port())
        settings |= proxy.operator_env | {
            "HLSFORGE_MEDIA_PVC": "",
            "HLSFORGE_S3_BUCKET": BUCKET,
        }
        operator = OperatorProcess(settings, ARTIFACTS / f"operator-{namespace}.log").start()
        try:
            api = Api(platform.kubeconfig, namespace)
            tmp = tmp_path_factory.mktemp("s3-faults")
            yield S3Env(platform, namespace, api, server, proxy, operator, tmp)
        finally:
            operator.stop()
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture(autouse=True)
def _healthy_after(s3env: S3Env) -> Iterator[None]:
    """Every row starts and ends with the proxy passing everything."""
    s3env.proxy.rule("pass")
    yield
    s3env.proxy.rule("pass")


def _strike_on_first(env: S3Env, row: FaultRow, key: str, method: str = "") -> None:
    wait_for(
        f"a {method or 'request'} on {key} caught",
        lambda: env.proxy.faulted(key, method) or None,
        180,
        every=0.2,
    )
    row.strike()


@pytest.mark.parametrize("mode", ["503", "down"])
def test_s3_failing_during_publish(
    s3env: S3Env, mode: str, fault_row: Callable[..., FaultRow]
) -> None:
    """Every write into the output fails for the whole first attempt: the publisher removes
    its version folder and exits StorageError, the Job's next pod publishes once S3 is back."""
    name = f"pub-{mode}"
    row = fault_row("7.2", fault=f"S3 {mode}", when="publish (the pod's upload), attempt 1",
                    must_hold=MUST_HOLD.format(attempts="attempts 2"))  # fmt: skip
    s3env.proxy.rule(mode, method="PUT|POST", key=f"/{BUCKET}/hls/{name}/")
    source, output = s3env.job(name)
    _strike_on_first(s3env, row, f"/hls/{name}/")

    def first_pod_failed() -> bool | None:
        pods = s3env.api.pods(f"hlsforge.io/transcodejob={name}")
        return any(p.status.phase == "Failed" for p in pods) or None

    wait_for("the first attempt's pod to fail", first_pod_failed, 180)
    row.saw(f"{s3env.proxy.faulted(f'/hls/{name}/')} writes refused in attempt 1")
    s3env.proxy.rule("pass")
    status = s3env.wait_phase(name)
    assert status["phase"] == "Succeeded", status
    s3env.recovered(row, name, source, output, attempts=2)


def test_s3_slow_during_publish(s3env: S3Env, fault_row: Callable[..., FaultRow]) -> None:
    name = "pub-slow"
    row = fault_row("7.2", fault="S3 slow (2 s per answer)", when="publish (the pod's upload)",
                    must_hold=MUST_HOLD.format(attempts="attempts 1"))  # fmt: skip
    s3env.proxy.rule("slow", method="PUT|POST|GET|HEAD", key=f"/{BUCKET}/hls/{name}", delay=2)
    source, output = s3env.job(name)
    _strike_on_first(s3env, row, f"/hls/{name}/")
    status = s3env.wait_phase(name)
    assert status["phase"] == "Succeeded", status
    row.saw(f"{s3env.proxy.faulted(f'/hls/{name}')} answers delayed")
    s3env.proxy.rule("pass")
    s3env.recovered(row, name, source, output, attempts=1)


@pytest.mark.parametrize("mode", ["down", "503"])
def test_s3_failing_during_verify(
    s3env: S3Env, mode: str, fault_row: Callable[..., FaultRow]
) -> None:
    """From the pod's commit on, the operator's read-back of the commit record fails across
    two of its rounds (each round is boto's own retries): the job waits, then verifies and
    succeeds, attempts 1."""
    name = f"ver-{mode}"
    row = fault_row("7.3", fault=f"S3 {mode}", when="verify (the operator's read-back)",
                    must_hold=MUST_HOLD.format(attempts="attempts 1"))  # fmt: skip
    commit = f"/{BUCKET}/hls/{name}/commit.json"
    # Armed by the pod's own commit (the pod reads the record too, before it transcodes).
    s3env.proxy.rule(mode, method="HEAD|GET", key=commit, after=f"^PUT {commit}$")
    source, output = s3env.job(name)
    _strike_on_first(s3env, row, commit)
    rounds = 8  # more than one round of boto's retries (5 attempts)

    def refused_or_ended() -> bool | None:
        ended = s3env.api.status(name).get("phase") in ("Succeeded", "Failed")
        return ended or s3env.proxy.faulted(commit) >= rounds or None

    wait_for(f"{rounds} reads refused", refused_or_ended, 120)
    status = s3env.api.status(name)
    assert status.get("phase") not in ("Succeeded", "Failed"), status
    phase = status.get("phase")
    row.saw(f"{s3env.proxy.faulted(commit)} reads refused, job still {phase}")
    s3env.proxy.rule("pass")
    status = s3env.wait_phase(name)
    assert status["phase"] == "Succeeded", status
    s3env.recovered(row, name, source, output, attempts=1)


@pytest.mark.parametrize("mode", ["503", "down"])
def test_s3_failing_during_source_delete(
    s3env: S3Env, mode: str, fault_row: Callable[..., FaultRow]
) -> None:
    """Only the DELETE of the source fails, for two of the operator's rounds: Succeeded stays,
    the source goes once S3 is back, and the deletion is recorded once."""
    name = f"del-{mode}"
    row = fault_row("7.4", fault=f"S3 {mode}", when="source delete (the operator)",
                    must_hold=MUST_HOLD.format(attempts="attempts 1"))  # fmt: skip
    key = f"/{BUCKET}/uploads/{name}.mp4"
    s3env.proxy.rule(mode, method="DELETE", key=key)
    source, output = s3env.job(name)
    _strike_on_first(s3env, row, key, "DELETE")
    rounds = 7  # past one round of boto's retries (6 resets, or 4 SlowDowns)
    wait_for(
        f"{rounds} deletes refused",
        lambda: s3env.proxy.faulted(key, "DELETE") >= rounds or None,
        120,
    )
    status = s3env.api.status(name)
    assert status.get("phase") == "Succeeded" and not status.get("sourceDeleted"), status
    assert s3env.server.objects().size(source) is not None
    row.saw(
        f"{s3env.proxy.faulted(key, 'DELETE')} deletes refused, Succeeded, source kept meanwhile"
    )
    s3env.proxy.rule("pass")
    s3env.recovered(row, name, source, output, attempts=1)
