"""The test-only pause points: off unless configured, bounded, ignored when garbled, and passed
to transcoder pods only when the operator's own test setting is set."""

from __future__ import annotations

import io
import json

import pytest

from hlsforge_api.pod import TEST_PAUSE_ENV
from hlsforge_api.v1alpha1 import TranscodeJobSpec
from hlsforge_operator import jobspec
from hlsforge_operator.settings import OperatorSettings
from hlsforge_transcoder.fault_points import Pause, parse_pause, pause_at


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("before-commit:20", Pause("before-commit", 20.0)),
        (" after-commit:0.5 ", Pause("after-commit", 0.5)),
        ("before-commit:600", Pause("before-commit", 600.0)),
    ],
)
def test_a_known_point_with_a_bounded_time_is_a_pause(text: str, expected: Pause) -> None:
    assert parse_pause(text) == expected


@pytest.mark.parametrize(
    "text",
    [None, "", "before-commit", "before-commit:", "before-commit:x", "before-commit:0",
     "before-commit:-1", "before-commit:601", "before-commit:nan", "before-commit:inf",
     "encode:5", "BEFORE-COMMIT:5"],
)  # fmt: skip
def test_anything_else_is_no_pause(text: str | None) -> None:
    assert parse_pause(text) is None


def test_pause_at_stops_only_at_the_configured_point_and_says_so() -> None:
    slept: list[float] = []
    log = io.StringIO()
    env = {TEST_PAUSE_ENV: "before-commit:7"}
    assert not pause_at("after-commit", env, slept.append, log)
    assert slept == [] and log.getvalue() == ""
    assert pause_at("before-commit", env, slept.append, log)
    assert slept == [7.0]
    assert json.loads(log.getvalue()) == {"testPause": "before-commit", "seconds": 7.0}


def test_without_the_variable_nothing_pauses() -> None:
    slept: list[float] = []
    assert not pause_at("before-commit", {}, slept.append, io.StringIO())
    assert slept == []


def _env(settings: OperatorSettings) -> dict[str, str]:
    spec = TranscodeJobSpec.model_validate({"source": "uploads/a.mp4", "output": "hls/a"})
    job = jobspec.build_job("a", "ns", "uid-1", spec, settings)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


def test_the_operator_passes_its_test_setting_to_pods_only_when_set() -> None:
    assert TEST_PAUSE_ENV not in _env(OperatorSettings())
    paused = _env(OperatorSettings(test_pause="before-commit:20"))
    assert paused[TEST_PAUSE_ENV] == "before-commit:20"
