"""A job whose last attempt was OOM-killed fails saying what to do: raise the memory limit."""

from __future__ import annotations

from datetime import UTC, datetime

from hlsforge_api.v1alpha1 import Phase, TranscodeJobSpec
from hlsforge_api.v1alpha1 import TranscodeJobStatus as Status
from hlsforge_operator.reconcile import OOM_HINT, Observation, reconcile
from hlsforge_operator.state import JobState, PodState

NOW = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
SPEC = TranscodeJobSpec(source="uploads/a.mp4", output="hls/a")
FAILED = JobState(
    name="a-transcode", failed=2, failed_final=True, failure_reason="BackoffLimitExceeded"
)


def _failed_with(pod: PodState) -> Status:
    observed = Observation(
        spec=SPEC, status=Status(phase=Phase.RUNNING), generation=1, now=NOW, job=FAILED,
        pods=(pod,),
    )  # fmt: skip
    return reconcile(observed).status


def test_an_oom_killed_last_attempt_fails_with_the_remedy_first() -> None:
    status = _failed_with(
        PodState(
            name="p", created=NOW, phase="Failed", exit_code=8, terminated_reason="OOMKilled",
            message="ffmpeg was killed by signal 9",
        )
    )  # fmt: skip
    assert status.phase is Phase.FAILED
    assert status.reason == "OOMKilled"
    assert status.message is not None
    assert status.message.startswith(OOM_HINT)
    assert "spec.resources.limits.memory" in status.message
    assert status.message.endswith("ffmpeg was killed by signal 9")


def test_other_failures_get_no_memory_advice() -> None:
    status = _failed_with(
        PodState(name="p", created=NOW, phase="Failed", exit_code=5, message="ffmpeg failed")
    )
    assert status.reason == "EncodeFailed"
    assert status.message is not None and "memory" not in status.message
