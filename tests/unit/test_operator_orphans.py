"""Pods no Job owns (orphaned with --cascade=orphan): recognised from their owner references,
deleted when finished, and running ones only once the job ended."""

from __future__ import annotations

from typing import Any

from hlsforge_operator.orphans import orphans
from hlsforge_operator.state import PodState, pod_state


def _body(name: str, phase: str, owners: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"u-{name}", "ownerReferences": owners},
        "status": {"phase": phase},
    }


JOB_OWNER = {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "1", "controller": True}


def test_a_pod_without_a_controller_is_not_controlled() -> None:
    assert pod_state(_body("a", "Running", [JOB_OWNER])).controlled
    assert not pod_state(_body("b", "Running", [])).controlled
    assert not pod_state(_body("c", "Running", [{**JOB_OWNER, "controller": False}])).controlled
    assert not pod_state({"metadata": {"name": "d"}, "status": {}}).controlled


def test_running_orphans_are_left_until_the_job_ends() -> None:
    pods = [
        PodState("owned", None, "Running"),
        PodState("orphan-running", None, "Running", controlled=False),
        PodState("orphan-done", None, "Succeeded", controlled=False),
        PodState("orphan-failed", None, "Failed", controlled=False),
    ]
    assert orphans(pods, running_too=False) == ["orphan-done", "orphan-failed"]
    assert orphans(pods, running_too=True) == ["orphan-running", "orphan-done", "orphan-failed"]
