"""Reading Jobs, pods and progress lines into the reducer's terms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hlsforge_api.errors import InvalidInput
from hlsforge_api.events import encode
from hlsforge_operator.state import (
    MAX_EVENT_LINE,
    PodState,
    bounded_lines,
    failure_reason,
    job_state,
    pod_state,
    progress_from_line,
)


def test_only_terminal_job_conditions_count() -> None:
    body: dict[str, Any] = {
        "metadata": {"name": "a-transcode"},
        "status": {
            "active": 1,
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}],
        },
    }
    assert not job_state(body).finished
    body["status"]["conditions"].append({"type": "Complete", "status": "True"})
    state = job_state(body)
    assert state.complete and state.finished


def test_failed_job_keeps_reason_and_message() -> None:
    body = {
        "metadata": {"name": "a-transcode"},
        "status": {
            "failed": 2,
            "startTime": "2026-11-25T09:00:00Z",
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
            ],
        },
    }
    state = job_state(body)
    assert state.failed_final and state.failed == 2
    assert state.failure_reason == "BackoffLimitExceeded"
    assert state.start_time is not None and state.start_time.year == 2026


def terminated(message: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {"name": "transcoder", "state": {"terminated": {"exitCode": 3, "message": message}}}
            ],
        },
    }


def test_pod_termination_message_and_disruption() -> None:
    body = {
        "metadata": {"name": "p", "creationTimestamp": "2026-11-25T09:00:00Z"},
        "status": {
            "phase": "Failed",
            "conditions": [{"type": "DisruptionTarget", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "transcoder",
                    "state": {
                        "terminated": {
                            "exitCode": 3,
                            "reason": "Error",
                            "message": encode(
                                InvalidInput("Playlist", "a playlist, not a video").to_event()
                            ),
                        }
                    },
                }
            ],
        },
    }
    pod = pod_state(body)
    assert (pod.exit_code, pod.disrupted, pod.running) == (3, True, False)
    assert pod.message == "a playlist, not a video"
    assert failure_reason(pod) == "InvalidInput"


@pytest.mark.parametrize(
    "raw",
    [
        "ffmpeg: something went wrong\n",
        '{"event":"progress","percent":41.3,"out_time":12.4}\n',  # the log tail, after a kill
        '{"event":"error","exit_code":3,"category":"InvalidInput","reason":"X","message":"m',
        '{"message": "not the engine\'s error event"}',
    ],
)
def test_a_termination_log_that_is_not_an_error_event_is_kept_as_text(raw: str) -> None:
    assert pod_state(terminated(raw)).message == raw.strip()
    assert pod_state(terminated("x" * 5000)).message == "x" * 1024


def test_failure_reasons() -> None:
    assert (
        failure_reason(PodState("p", None, "Failed", exit_code=137, terminated_reason="OOMKilled"))
        == "OOMKilled"
    )
    assert failure_reason(PodState("p", None, "Failed", exit_code=7)) == "Stalled"
    assert failure_reason(PodState("p", None, "Failed", exit_code=143)) == "Terminated"
    assert failure_reason(PodState("p", None, "Failed", exit_code=137)) == "Killed"
    assert (
        failure_reason(PodState("p", None, "Failed", exit_code=99, terminated_reason="Error"))
        == "Error"
    )
    assert failure_reason(PodState("p", None, "Failed", disrupted=True)) == "Disrupted"
    assert failure_reason(PodState("p", None, "Failed")) == "PodFailed"


def test_progress_lines() -> None:
    line = json.dumps({"event": "progress", "percent": 12.5, "fps": 30, "speed": 1.5, "eta": 9})
    progress = progress_from_line(line)
    assert progress is not None
    assert (progress.percent, progress.fps, progress.speed, progress.eta) == (12.5, 30, 1.5, 9)
    assert progress_from_line('{"event": "done"}') is None
    assert progress_from_line("ffmpeg noise") is None
    assert progress_from_line('{"event": "progress"}') is None
    over = progress_from_line('{"event": "progress", "percent": 100.7, "speed": -1}')
    assert over is not None and over.percent == 100 and over.speed is None
    under = progress_from_line('{"event": "progress", "percent": -3, "eta": -1, "fps": 0}')
    assert under is not None and (under.percent, under.eta, under.fps) == (0, None, 0)


def test_garbled_and_oversized_lines_are_skipped() -> None:
    for line in [
        "",
        "{",
        "[" * 100_000,
        '{"event": "progress", "percent": "lots"}',
        '{"event": "error", "exit_code": 5}',
        '{"event": "planned", "renditions": [], "fps": 30}',
        "\ufffd\ufffd binary noise \x00",
    ]:
        assert progress_from_line(line) is None
    padded = '{"event": "progress", "percent": 5, "pad": "' + "x" * MAX_EVENT_LINE + '"}'
    assert progress_from_line(padded) is None
    assert progress_from_line(padded[:200] + '"}') is not None


def test_log_lines_are_split_across_chunks_and_an_endless_line_is_dropped() -> None:
    chunks = [b'{"event":"pro', b'gress"}\nsecond\n', b"x" * 40, b"y" * 40, b"\nafter\ntail"]
    assert list(bounded_lines(chunks, max_line=64)) == [
        '{"event":"progress"}',
        "second",
        "after",
        "tail",
    ]
    # A long line that ends inside one chunk is dropped too, and nothing piles up.
    assert list(bounded_lines([b"a" * 100 + b"\nb\n"], max_line=64)) == ["b"]
    assert list(bounded_lines([b"\xff\xfe ok\n"])) == ["\ufffd\ufffd ok"]
