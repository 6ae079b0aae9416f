"""The status reducer: each observed situation leads to one status and at most one action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hlsforge_api import conditions as cond
from hlsforge_api.v1alpha1 import Outputs, Phase, RenditionOutput, TranscodeJobSpec
from hlsforge_api.v1alpha1 import TranscodeJobStatus as Status
from hlsforge_operator.reconcile import (
    Action,
    Observation,
    after_source_deleted,
    after_verify,
    reconcile,
    rejected,
)
from hlsforge_operator.state import JobState, PodState, Progress

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SPEC = TranscodeJobSpec(source="up/a.mp4", output="hls/a")
RETAIN = TranscodeJobSpec(source="up/a.mp4", output="hls/a", source_policy="Retain")
OUTPUTS = Outputs(
    master_playlist="hls/a/master.m3u8",
    renditions=[
        RenditionOutput(
            name="360p", playlist="360p/index.m3u8", resolution="640x360", bandwidth=900_000
        )
    ],
    duration_seconds=6.0,
)


def observe(status: Status | None = None, **kwargs: Any) -> Observation:
    return Observation(
        spec=kwargs.pop("spec", SPEC), status=status or Status(), generation=1, now=NOW, **kwargs
    )


def running_job(**kwargs: Any) -> JobState:
    return JobState(name="a-transcode", active=1, **kwargs)


def pod(name: str, minutes: int, **kwargs: Any) -> PodState:
    return PodState(name=name, created=NOW + timedelta(minutes=minutes), **kwargs)


def test_new_job_without_a_slot_is_queued_once() -> None:
    out = reconcile(observe(slot_free=False))
    assert out.status.phase is Phase.QUEUED
    assert out.action is Action.NONE
    assert [e.reason for e in out.events] == ["Queued"]
    again = reconcile(observe(out.status, slot_free=False))
    assert again.status == out.status
    assert again.events == []


def test_queued_job_with_a_slot_creates_its_job() -> None:
    out = reconcile(observe(Status(phase=Phase.QUEUED), slot_free=True))
    assert out.action is Action.CREATE_JOB
    assert out.status.phase is Phase.RUNNING
    assert out.status.start_time == NOW
    assert cond.is_true(out.status.conditions, cond.SCHEDULED)
    assert [e.reason for e in out.events] == ["TranscodeStarted"]


def test_running_job_mirrors_progress_and_attempts() -> None:
    progress = Progress(percent=42.345, fps=61.0, speed=2.04, eta=12.6)
    out = reconcile(
        observe(
            Status(phase=Phase.RUNNING, attempts=1),
            job=running_job(failed=1),
            pods=(pod("p1", 0, phase="Failed", exit_code=5), pod("p2", 1, phase="Running")),
            progress=progress,
        )
    )
    assert out.action is Action.NONE
    assert out.status.progress == 42.3
    assert (out.status.fps, out.status.speed, out.status.eta) == (61.0, 2.04, 13)
    assert out.status.attempts == 2


def test_unchanged_observation_changes_nothing() -> None:
    first = reconcile(
        observe(
            Status(phase=Phase.RUNNING), job=running_job(), pods=(pod("p1", 0, phase="Running"),)
        )
    )
    second = reconcile(
        observe(first.status, job=running_job(), pods=(pod("p1", 0, phase="Running"),))
    )
    assert second.status == first.status
    assert second.events == []


def test_completed_job_is_verified_before_success() -> None:
    done = JobState(name="a-transcode", succeeded=1, complete=True)
    out = reconcile(observe(Status(phase=Phase.RUNNING, start_time=NOW), job=done))
    assert out.action is Action.VERIFY_OUTPUT
    assert out.status.phase is Phase.RUNNING  # not Succeeded until verified
    ok = after_verify(out, NOW, 1, OUTPUTS, None)
    assert ok.status.phase is Phase.SUCCEEDED
    assert ok.status.progress == 100
    assert ok.status.outputs == OUTPUTS
    assert ok.status.source_deleted is False
    assert cond.is_true(ok.status.conditions, cond.SUCCEEDED)


def test_output_that_does_not_verify_fails_and_keeps_the_source() -> None:
    done = JobState(name="a-transcode", succeeded=1, complete=True)
    out = after_verify(
        reconcile(observe(Status(phase=Phase.RUNNING), job=done)),
        NOW,
        1,
        None,
        "segment 360p/seg_00003.ts is missing",
    )
    assert out.status.phase is Phase.FAILED
    assert out.status.reason == "VerifyFailed"
    assert "seg_00003" in (out.status.message or "")
    assert reconcile(observe(out.status)).action is Action.NONE


def test_source_is_deleted_only_after_success_is_persisted() -> None:
    succeeded = Status(phase=Phase.SUCCEEDED, outputs=OUTPUTS)
    out = reconcile(observe(succeeded))
    assert out.action is Action.DELETE_SOURCE
    deleted = after_source_deleted(out, NOW, 1, existed=True)
    assert deleted.status.source_deleted is True
    assert cond.is_true(deleted.status.conditions, cond.SOURCE_DELETED)
    assert reconcile(observe(deleted.status)).action is Action.NONE


def test_retain_policy_never_deletes_the_source() -> None:
    out = reconcile(observe(Status(phase=Phase.SUCCEEDED, outputs=OUTPUTS), spec=RETAIN))
    assert out.action is Action.NONE


def test_invalid_input_fails_with_the_transcoders_reason() -> None:
    failed_job = JobState(
        name="a-transcode",
        failed=1,
        failed_final=True,
        failure_reason="PodFailurePolicy",
        failure_message="Container transcoder exited with 3",
    )
    bad = pod("p1", 0, phase="Failed", exit_code=3, message="not a video: text file")
    out = reconcile(observe(Status(phase=Phase.RUNNING), job=failed_job, pods=(bad,)))
    assert out.status.phase is Phase.FAILED
    assert out.status.reason == "InvalidInput"
    assert out.status.message is not None and "not a video" in out.status.message
    assert out.status.attempts == 1
    assert cond.is_true(out.status.conditions, cond.FAILED)
    assert out.action is Action.NONE  # the source stays
    assert [e.type for e in out.events] == ["Warning"]


def test_exhausted_retries_report_the_last_attempts_reason() -> None:
    failed_job = JobState(
        name="a-transcode", failed=3, failed_final=True, failure_reason="BackoffLimitExceeded"
    )
    pods = (
        pod("p1", 0, phase="Failed", exit_code=5),
        pod("p2", 1, phase="Failed", exit_code=137, terminated_reason="OOMKilled"),
    )
    out = reconcile(observe(Status(phase=Phase.RUNNING), job=failed_job, pods=pods))
    assert out.status.reason == "OOMKilled"
    assert out.status.attempts == 3


def test_deadline_wins_over_pod_reasons() -> None:
    failed_job = JobState(
        name="a-transcode",
        failed=1,
        failed_final=True,
        failure_reason="DeadlineExceeded",
        failure_message="Job was active longer than specified deadline",
    )
    out = reconcile(
        observe(
            Status(phase=Phase.RUNNING),
            job=failed_job,
            pods=(pod("p1", 0, phase="Failed", exit_code=7),),
        )
    )
    assert out.status.reason == "DeadlineExceeded"


def test_a_vanished_job_of_a_running_transcode_is_recreated() -> None:
    out = reconcile(observe(Status(phase=Phase.RUNNING)))
    assert out.action is Action.CREATE_JOB
    assert out.events[0].reason == "JobRecreated"


def test_final_phases_are_left_alone() -> None:
    failed = Status(phase=Phase.FAILED, reason="InvalidInput")
    out = reconcile(observe(failed, job=JobState(name="x", failed_final=True)))
    assert out.status.phase is Phase.FAILED
    assert out.action is Action.NONE


def test_an_evicted_attempt_still_counts() -> None:
    # The evicted pod is gone from the API and the Job ignores it; the operator saw it.
    out = reconcile(
        observe(
            Status(phase=Phase.RUNNING, attempts=1),
            job=running_job(),
            pods=(pod("p2", 1, phase="Running"),),
            pods_seen=2,
        )
    )
    assert out.status.attempts == 2


def test_attempts_never_go_down() -> None:
    # A restarted operator has not seen earlier pods; the persisted count stays.
    out = reconcile(
        observe(
            Status(phase=Phase.RUNNING, attempts=3),
            job=running_job(),
            pods=(pod("p3", 2, phase="Running"),),
            pods_seen=1,
        )
    )
    assert out.status.attempts == 3


def test_a_refused_job_fails_with_the_rule_and_one_warning() -> None:
    queued = Status(phase=Phase.QUEUED, message="waiting for a free transcode slot")
    out = rejected(queued, NOW, 3, "output hls/b is claimed by TranscodeJob x", "OutputConflict")
    assert out.status.phase is Phase.FAILED
    assert (out.status.reason, out.status.completion_time) == ("OutputConflict", NOW)
    assert out.status.message == "output hls/b is claimed by TranscodeJob x"
    assert out.status.observed_generation == 3
    assert out.action is Action.NONE
    assert [(e.type, e.reason) for e in out.events] == [("Warning", "OutputConflict")]
    assert queued.phase is Phase.QUEUED  # the observed status is never modified
    assert rejected(queued, NOW, 3, "bad").status.reason == "InvalidSpec"
