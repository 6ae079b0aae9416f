"""Rows 6.x: the media volume full during the encode and during the commit, then space freed;
and full for longer than the retry budget.

The namespace's media volume is a real 64 MiB ext4 filesystem (``small_volume``); a root-owned
filler takes every free block at the observed moment. ffmpeg's HLS muxer shrugs off ENOSPC
(it exits 0 with empty playlists), so what the product must show is its own: the attempt
fails ``StorageError``/``NoSpace`` (exit 4) naming the full volume, removes its work folder,
the operator says so (``AttemptFailed``) and the Job retries; once space is back the job
succeeds with one verified output. A volume still full when the budget is spent fails the job
``StorageError`` with the source kept and nothing partial left.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.faults.invariants import check_settled
from tests.faults.moments import LADDER, progress_above, running_pod
from tests.faults.small_volume import SmallVolume, small_volume_env
from tests.faults.table import FaultRow
from tests.integration.conftest import KubeCluster
from tests.integration.harness import wait_for
from tests.integration.operator_env import Env

pytestmark = pytest.mark.cluster

SIZE_MB = 64
PAUSE_S = 12
"""The engine's test pause before the master playlist and manifest are written: the fill
happens inside it, not in a race with a few writes."""
RETRIED = (
    "attempt 1 fails NoSpace (exit 4, AttemptFailed says why), its work folder removed; once "
    "space is back: Succeeded, attempts 2, one verified output, source deleted once after it"
)
SPENT = (
    "every attempt fails NoSpace; Failed StorageError naming the full volume, attempts 2, "
    "source kept, nothing partial left"
)


@pytest.fixture
def disk(platform: KubeCluster) -> Iterator[tuple[Env, SmallVolume]]:
    yield from small_volume_env(platform, "f-disk", SIZE_MB)


@pytest.fixture
def disk_paused(platform: KubeCluster) -> Iterator[tuple[Env, SmallVolume]]:
    yield from small_volume_env(
        platform, "f-diskc", SIZE_MB, HLSFORGE_TEST_PAUSE=f"before-finalize:{PAUSE_S}"
    )


@pytest.fixture
def disk_renaming(platform: KubeCluster) -> Iterator[tuple[Env, SmallVolume]]:
    yield from small_volume_env(
        platform, "f-diskr", SIZE_MB, HLSFORGE_TEST_PAUSE=f"before-commit:{PAUSE_S}"
    )


def _terminated(pod: Any) -> dict[str, Any] | None:
    for status in pod.status.container_statuses or []:
        if status.name == "transcoder" and status.state and status.state.terminated:
            return {
                "exit_code": status.state.terminated.exit_code,
                "message": status.state.terminated.message or "",
            }
    return None


def first_attempt_failure(env: Env, tj: str) -> dict[str, Any]:
    """The first failed pod's exit code and the engine's ``error`` event (its termination
    log)."""

    def failed() -> dict[str, Any] | None:
        for pod in env.api.pods(f"hlsforge.io/transcodejob={tj}"):
            done = _terminated(pod)
            if done and done["exit_code"] != 0:
                return done
        return None

    done = wait_for(f"a failed attempt of {tj}", failed, timeout=180, every=0.2)
    lines = done["message"].strip().splitlines()
    event = json.loads(lines[-1]) if lines else {}
    return {"exit_code": done["exit_code"], **event}


def job_work_files(env: Env, tj: str) -> list[Path]:
    """What is in the job's work folder (``.hlsforge/work/<uid>``): attempts and commits."""
    found = env.api.tj(tj)
    assert found is not None
    folder = env.media.root / ".hlsforge" / "work" / found["metadata"]["uid"]
    return sorted(folder.iterdir()) if folder.is_dir() else []


def paused_at(env: Env, tj: str, point: str) -> bool:
    pod = running_pod(env, tj)
    try:
        log = env.api.core.read_namespaced_pod_log(pod.metadata.name, env.namespace)
    except ApiException:  # the log may not be readable yet
        return False
    return any(f'"testPause": "{point}"' in line for line in str(log).splitlines())


def attempt_failed_events(env: Env, tj: str) -> list[str]:
    listed = env.api.core.list_namespaced_event(
        env.namespace, field_selector=f"involvedObject.name={tj}"
    )
    return [str(e.message) for e in listed.items if e.reason == "AttemptFailed"]


def assert_no_space(failure: dict[str, Any], row: FaultRow) -> None:
    assert failure["exit_code"] == 4, failure
    assert (failure.get("category"), failure.get("reason")) == ("StorageError", "NoSpace"), failure
    assert "is full" in failure["message"], failure
    row.saw(f"attempt 1: exit 4 StorageError/NoSpace ({failure['message'][:60]}…)")


def retried_and_settled(env: Env, volume: SmallVolume, tj: str, row: FaultRow) -> None:
    """Free the space; the retry must succeed, and say why attempt 1 failed."""
    volume.free()
    env.wait_phase(tj, {"Succeeded", "Failed"}, timeout=240)
    env.wait_source_deleted(tj)
    seen = check_settled(
        env, tj, phase="Succeeded", attempts=2, source=f"uploads/{tj}.mp4", output=f"hls/{tj}"
    )
    assert job_work_files(env, tj) == [], job_work_files(env, tj)
    row.recovered()
    events = attempt_failed_events(env, tj)
    assert len(events) == 1 and "StorageError" in events[0] and "is full" in events[0], events
    row.saw("AttemptFailed: StorageError, volume full")
    for what in seen:
        row.saw(what)


def test_volume_full_mid_encode_then_freed(
    disk: tuple[Env, SmallVolume], fault_row: Callable[..., FaultRow]
) -> None:
    env, volume = disk
    row = fault_row(
        "6.1",
        fault="media volume full",
        when="mid-encode, freed after attempt 1",
        must_hold=RETRIED,
    )
    source = env.clip("enc.mp4", seconds=20, size="640x360", noise=True)
    env.api.create_tj("enc", source=source, output="hls/enc", renditions=LADDER)
    running_pod(env, "enc")
    at = progress_above(env, "enc", 30)
    took = volume.fill()
    row.strike()
    row.saw(f"filled at {at:.0f} % ({took >> 20} MiB)")
    assert_no_space(first_attempt_failure(env, "enc"), row)
    assert job_work_files(env, "enc") == [], "the failed attempt left its work folder"
    row.saw("its work folder removed on the full volume")
    retried_and_settled(env, volume, "enc", row)


def test_volume_full_during_commit_then_freed(
    disk_paused: tuple[Env, SmallVolume], fault_row: Callable[..., FaultRow]
) -> None:
    env, volume = disk_paused
    row = fault_row(
        "6.2",
        fault="media volume full",
        when="commit: before master playlist and manifest (test pause), freed after attempt 1",
        must_hold=RETRIED + "; no half-written playlist committed",
    )
    source = env.clip("com.mp4", seconds=8, size="640x360", noise=True)
    env.api.create_tj("com", source=source, output="hls/com", renditions=LADDER)
    wait_for("the engine paused", lambda: paused_at(env, "com", "before-finalize"), 240)
    took = volume.fill()
    row.strike()
    row.saw(f"filled after ffmpeg, before the master playlist ({took >> 20} MiB)")
    assert_no_space(first_attempt_failure(env, "com"), row)
    assert job_work_files(env, "com") == [], "a failed commit left files (or committed)"
    row.saw("nothing committed, work folder removed")
    retried_and_settled(env, volume, "com", row)


def test_volume_full_beyond_the_retry_budget(
    disk: tuple[Env, SmallVolume], fault_row: Callable[..., FaultRow]
) -> None:
    env, volume = disk
    row = fault_row(
        "6.3", fault="media volume full", when="mid-encode, never freed (maxRetries 1)",
        must_hold=SPENT,
    )  # fmt: skip
    source = env.clip("full.mp4", seconds=20, size="640x360", noise=True)
    env.api.create_tj("full", source=source, output="hls/full", renditions=LADDER, maxRetries=1)
    running_pod(env, "full")
    progress_above(env, "full", 30)
    volume.fill()
    row.strike()
    assert_no_space(first_attempt_failure(env, "full"), row)
    status = env.wait_phase("full", {"Succeeded", "Failed"}, timeout=240)
    seen = check_settled(env, "full", phase="Failed", attempts=2, source=source, output="hls/full")
    assert job_work_files(env, "full") == [], job_work_files(env, "full")
    row.recovered()
    assert status.get("reason") == "StorageError", status
    assert "is full" in str(status.get("message")), status
    row.saw(f"Failed {status.get('reason')}: {str(status.get('message'))[:60]}…")
    assert len(attempt_failed_events(env, "full")) == 1
    for what in seen:
        row.saw(what)


def test_volume_full_at_the_rename_and_publish_then_freed(
    disk_renaming: tuple[Env, SmallVolume], fault_row: Callable[..., FaultRow]
) -> None:
    env, volume = disk_renaming
    row = fault_row(
        "6.2",
        fault="media volume full",
        when="commit: after fsync, before the rename and the publish (test pause), then freed",
        must_hold="the committed attempt waits for space, never Failed; Succeeded, attempts 1, "
        "one verified output, source deleted once after it",
    )
    source = env.clip("pub.mp4", seconds=8, size="640x360", noise=True)
    env.api.create_tj("pub", source=source, output="hls/pub", renditions=LADDER)
    wait_for("the engine paused", lambda: paused_at(env, "pub", "before-commit"), 240)
    took = volume.fill()
    row.strike()
    row.saw(f"filled after fsync, before the rename ({took >> 20} MiB)")
    wait_for(
        "the operator to find the volume full at publish",
        lambda: "the volume is full" in env.operator.log_tail(200),
        timeout=120,
    )
    status = env.api.status("pub")
    assert status.get("phase") == "Running", status
    row.saw("engine committed (rename needs no space); publish waits on NoSpace, job Running")
    volume.free()
    env.wait_phase("pub", {"Succeeded", "Failed"}, timeout=120)
    env.wait_source_deleted("pub")
    seen = check_settled(env, "pub", phase="Succeeded", attempts=1, source=source, output="hls/pub")
    assert job_work_files(env, "pub") == [], job_work_files(env, "pub")
    row.recovered()
    for what in seen:
        row.saw(what)
