"""Issue 13: one watchdog covers the whole run, Python included (``run_deadline``).

The real entrypoint with a short ``--deadline-seconds`` on a real encode; and the entrypoint's
own ``run`` with a Python step made to hang (patched in the test's own subprocess, never in the
engine), once where the hang still reaches the interpreter and once where it never does (the
deadline signal blocked, like code stuck in C): both end with exit 7, ``RunDeadline``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import Clips, cli, engine_argv, leftovers, run_json

pytestmark = pytest.mark.media


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


def test_the_deadline_stops_a_real_encode_and_everything_it_started(
    clips: Clips, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    settings = {"video": {"preset": "medium"}, "thumbnails": {"poster": False}}
    argv = engine_argv(clips("long_360p.mkv"), out, settings, tmp_path)
    started = time.monotonic()
    run = run_json([*argv, "--deadline-seconds", "2"], timeout=60)
    elapsed = time.monotonic() - started
    assert run.returncode == 7, run.events[-1:]
    error = run.last("error")
    assert (error["category"], error["reason"]) == ("Stalled", "RunDeadline")
    assert run.of("progress"), "the deadline should have caught ffmpeg at work"
    assert elapsed < 2 + 10  # deadline + grace: by construction of run_deadline, not a goal
    assert not out.exists() and leftovers(out) == []
    assert _processes_mentioning(str(out)) == [], "ffmpeg outlived the run"


def test_the_cli_runs_under_the_same_deadline(clips: Clips, tmp_path: Path) -> None:
    # ``hlsforge transcode`` is the engine on a laptop: the same watchdog, the same exit code.
    out = tmp_path / "out"
    started = time.monotonic()
    run = cli(
        clips("long_360p.mkv"), out, "--no-poster", "--preset", "medium", "--deadline-seconds", "2"
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 7, run.events[-1:]
    error = run.last("error")
    assert (error["category"], error["reason"]) == ("Stalled", "RunDeadline")
    assert elapsed < 2 + 10  # deadline + grace: by construction of run_deadline, not a goal
    assert not out.exists() and leftovers(out) == []
    assert _processes_mentioning(str(out)) == [], "ffmpeg outlived the run"


def test_a_bad_deadline_is_a_usage_error(clips: Clips, tmp_path: Path) -> None:
    argv = engine_argv(clips("odd_318x178.mp4"), tmp_path / "o", {}, tmp_path)
    for bad in ("0", "-1", "nan", str(8 * 24 * 3600)):
        done = subprocess.run([*argv, "--deadline-seconds", bad], capture_output=True, timeout=60)
        assert done.returncode == 2, (bad, done.stderr)


HANG = """
import signal, sys, time
from pathlib import Path
import hlsforge_transcoder.__main__ as entry
from hlsforge_transcoder import run_deadline
from hlsforge_transcoder.run_deadline import DEADLINE_SIGNAL, supervise

def hang(*_args, **_kwargs):
    Path(sys.argv[2]).write_text("planning")
    if sys.argv[1] == "stuck":  # the deadline signal never reaches the interpreter
        signal.pthread_sigmask(signal.SIG_BLOCK, [DEADLINE_SIGNAL])
    while True:  # a Python step that never ends, e.g. a planner that loops
        time.sleep(0.01)

entry.run_job = hang
if sys.argv[1] == "polled":  # as where seccomp refuses pidfd_open
    run_deadline._open_pidfd = lambda _pid: None
args = entry.argparse.Namespace(settings=None, settings_json=None, src="in.mkv", dest="out")
sys.exit(supervise(lambda: entry.run(args), 1.0, report=entry.report, grace_s=1.0))
"""


@pytest.mark.parametrize("how", ["cooperative", "stuck", "polled"])
def test_a_hung_python_step_is_stopped_with_the_documented_exit_code(
    tmp_path: Path, how: str
) -> None:
    marker = tmp_path / "reached"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(HANG), how, str(marker)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert marker.read_text() == "planning"  # the hang was reached, inside the run
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 7, (done.stdout, done.stderr[-2000:])
    assert [e["reason"] for e in events if e["event"] == "error"] == ["RunDeadline"]
    assert "Traceback" not in done.stderr
