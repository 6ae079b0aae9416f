"""The delete handler and the reconcile timer never act on one job at the same time: kopf runs
them in parallel, so the cleanup waits for a timer run in flight (which may be creating the
Job or publishing the output) and for every pod of the job to end, and no timer run starts
once the cleanup has. The Kubernetes calls are replaced by recorded answers; the storage by
a stand-in that records what the cleanup did."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest

from hlsforge_operator import handlers, k8s
from hlsforge_operator.runtime import Runtime
from hlsforge_operator.settings import OperatorSettings

NS, NAME, UID = "ns", "clip", "uid-1"
SPEC = {"source": "uploads/a.mp4", "output": "hls/a"}


class Ownership:
    def __init__(self) -> None:
        self.released: list[str] = []

    def owned_by(self, location: str, owner: Any) -> bool:
        return True

    def release(self, location: str, owner: Any) -> None:
        self.released.append(location)


class Store:
    def __init__(self) -> None:
        self.cleaned: list[str] = []

    def clean_partial(self, output: str, uid: str) -> int:
        self.cleaned.append(output)
        return 1

    def holds_output(self, output: str) -> bool:
        return False


def _runtime() -> Runtime:
    return Runtime(OperatorSettings(media_root=None), Store(), Ownership())  # type: ignore[arg-type]


def _world(monkeypatch: pytest.MonkeyPatch, *, job: bool, pods: list[str]) -> list[str]:
    deleted: list[str] = []

    def delete_job(namespace: str, name: str) -> bool:
        deleted.append(name)
        return True

    monkeypatch.setattr(k8s, "delete_job", delete_job)
    monkeypatch.setattr(k8s, "job_exists", lambda ns, name: job)
    monkeypatch.setattr(k8s, "live_pods", lambda ns, tj: pods)
    return deleted


def _cleanup(runtime: Runtime) -> None:
    asyncio.run(
        handlers.cleanup(
            name=NAME,
            namespace=NS,
            uid=UID,
            spec=SPEC,  # type: ignore[arg-type] # the handler only reads it
            memo=kopf.Memo(runtime=runtime),
            logger=logging.getLogger("test"),
        )
    )


def test_cleanup_waits_for_a_reconciliation_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = _runtime()
    runtime.reconciling.add((NS, NAME))
    deleted = _world(monkeypatch, job=False, pods=[])
    with pytest.raises(kopf.TemporaryError, match="reconciliation"):
        _cleanup(runtime)
    assert deleted == [f"{NAME}-transcode"]  # the Job is asked to go at once
    assert runtime.store.cleaned == []  # type: ignore[attr-defined]
    assert (NS, NAME) in runtime.deleting


def test_cleanup_waits_for_a_live_pod_when_the_job_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = _runtime()
    _world(monkeypatch, job=False, pods=["clip-transcode-x"])  # orphaned, or still stopping
    with pytest.raises(kopf.TemporaryError, match="clip-transcode-x"):
        _cleanup(runtime)
    assert runtime.store.cleaned == []  # type: ignore[attr-defined]


def test_cleanup_runs_once_nothing_can_write_and_is_safe_to_repeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = _runtime()
    _world(monkeypatch, job=False, pods=[])
    _cleanup(runtime)
    _cleanup(runtime)  # kopf may call it again (a retry after a lost patch)
    assert runtime.store.cleaned == ["hls/a", "hls/a"]  # type: ignore[attr-defined]
    assert (NS, NAME) not in runtime.deleting


def test_no_timer_run_acts_once_the_cleanup_started() -> None:
    runtime = _runtime()
    runtime.deleting.add((NS, NAME))
    # Anything past the check would need the arguments left out here and fail.
    asyncio.run(handlers.reconcile_job(name=NAME, namespace=NS, memo=kopf.Memo(runtime=runtime)))
    assert runtime.reconciling == set()
