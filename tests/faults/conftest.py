"""Fixtures of the fault table: a recorder for each row, the rendered table at the end of the
session, and the cluster fixtures the integration tests use."""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.faults.table import FaultRow, load, render
from tests.integration.conftest import KubeCluster, kube_cluster  # noqa: F401 - fixture
from tests.integration.harness import ARTIFACTS, install_crds, prepare_platform

ROWS = ARTIFACTS / "faults" / "rows"
TABLE = ARTIFACTS / "faults.md"
_CALL = pytest.StashKey[pytest.TestReport]()
_LOADED = time.time()
"""Rows older than this conftest's import are a previous run's (pytest loads it at collection)."""

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="session")
def platform(kube_cluster: KubeCluster) -> KubeCluster:  # noqa: F811 - the fixture above
    """CRDs installed and the transcoder image in the node: built once per run, even when
    several pytest-xdist workers ask at the same time (they share the run's id)."""
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    with (ROWS.parent / ".platform.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = ROWS.parent / f".platform-{run}"
        if run and built.exists():
            install_crds(kube_cluster)
        else:
            prepare_platform(kube_cluster)
            if run:
                built.write_text(f"{kube_cluster.kubeconfig}\n")
    return kube_cluster


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or (report.when == "setup" and not report.passed):
        item.stash[_CALL] = report
    return report


def _outcome(item: pytest.Item) -> str:
    report = item.stash.get(_CALL, None)
    if report is None:
        return "error"
    if report.when == "setup":
        return "skipped" if report.skipped else "error"
    return report.outcome


@pytest.fixture
def fault_row(request: pytest.FixtureRequest) -> Iterator[Callable[..., FaultRow]]:
    """``fault_row("1.2", fault=..., when=..., must_hold=...)`` starts a row of the table; the
    test calls ``row.strike()`` when the fault happens, ``row.recovered()`` once everything
    that must hold holds, and ``row.saw(...)`` for what it observed. The row is written when
    the test ends, with its outcome."""
    rows: list[FaultRow] = []

    def start(number: str, *, fault: str, when: str, must_hold: str) -> FaultRow:
        row = FaultRow(number, fault, when, must_hold, test=request.node.nodeid)
        rows.append(row)
        return row

    yield start
    ROWS.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        row.outcome = _outcome(request.node)
        row.ended = time.time()
        # Named by the test (a stable digest), so running a row again replaces its last result.
        digest = hashlib.sha256(row.test.encode()).hexdigest()[:12]
        name = f"{row.number}-{digest}-{i}.json"
        (ROWS / name).write_text(row.to_json())


def _rows_of_this_run() -> list[FaultRow]:
    """Every row in the folder (``make faults`` empties it first, then runs the table in two
    sessions), when this session wrote at least one of them."""
    rows = load(ROWS) if ROWS.is_dir() else []
    return rows if any((r.ended or 0) >= _LOADED for r in rows) else []


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):  # a pytest-xdist worker: the controller renders
        return
    rows = _rows_of_this_run()
    if rows:
        TABLE.parent.mkdir(parents=True, exist_ok=True)
        TABLE.write_text(render(rows))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TABLE.exists() and _rows_of_this_run():
        terminalreporter.section("fault table (artifacts/faults.md)")
        terminalreporter.write(Path(TABLE).read_text())
