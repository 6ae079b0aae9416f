"""The container entrypoint as the operator's Job runs it: inline settings, JSON lines,
exit codes, and the termination log the operator reads a failure's reason from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hlsforge_api.errors import InvalidInput
from hlsforge_api.events import decode, encode
from hlsforge_api.exitcodes import ExitCode
from hlsforge_transcoder.__main__ import write_termination_log
from tests.media.conftest import Clips, Run, run_json

pytestmark = pytest.mark.media


def entrypoint(src: Path, dest: Path, settings: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hlsforge_transcoder",
        "--settings-json",
        settings,
        str(src),
        str(dest),
    ]


def assert_events_round_trip(run: Run) -> None:
    """Every line the engine printed is one of the protocol's events, and reads back whole."""
    assert run.events
    for event in run.events:
        assert json.loads(encode(decode(json.dumps(event)))) == event


def test_inline_settings_drive_the_transcode(clips: Clips, tmp_path: Path) -> None:
    settings = {
        "segmentFormat": "fmp4",
        "audio": {"codec": "none"},
        "renditions": [{"name": "180p", "height": 180, "videoBitrateKbps": 300}],
        "thumbnails": {"poster": False},
    }
    run = run_json(entrypoint(clips("whole.mkv"), tmp_path / "out", json.dumps(settings)))
    assert run.returncode == ExitCode.OK, run.stderr
    done = run.last("done")
    assert [r["name"] for r in done["outputs"]["renditions"]] == ["180p"]
    assert (tmp_path / "out" / "180p" / "init.mp4").exists()
    assert not (tmp_path / "out" / "poster.jpg").exists()
    assert [e["event"] for e in run.events if e["event"] != "progress"] == [
        "probed",
        "planned",
        "done",
    ]
    assert_events_round_trip(run)


def test_invalid_inline_settings_are_a_usage_error(clips: Clips, tmp_path: Path) -> None:
    bad = json.dumps({"segmentFormat": "webm"})
    run = run_json(entrypoint(clips("whole.mkv"), tmp_path / "out", bad))
    assert run.returncode == ExitCode.USAGE
    assert run.last("error")["reason"] == "SettingsInvalid"
    assert_events_round_trip(run)
    assert not (tmp_path / "out").exists()


def test_failures_go_to_the_termination_log(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    event = InvalidInput("TextFile", "not a video: text").to_event()
    write_termination_log(event, log)
    assert not log.exists()  # only where Kubernetes mounted it
    log.touch()
    write_termination_log(event, log)
    assert json.loads(log.read_text()) == {
        "event": "error",
        "exit_code": 3,
        "category": "InvalidInput",
        "reason": "TextFile",
        "message": "not a video: text",
    }
