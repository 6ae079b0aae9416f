"""The real engine interrupted: signals, an engine killed outright, a stalled ffmpeg. Each must
leave nothing behind, and a later run must recover."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from hlsforge_api.errors import Stalled
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import Limits
from hlsforge_output.verify import verify_dir
from hlsforge_transcoder.run import transcode

from .conftest import (
    Clips,
    cli,
    engine_argv,
    leftovers,
)

pytestmark = pytest.mark.media


def _cmdline(pid: int) -> str:
    """The process's command line; empty when it has already ended (ffprobe children come and
    go while the test looks for ffmpeg)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _engine_ffmpeg(engine: int) -> int:
    """The ffmpeg of an engine started as ``python -m hlsforge_transcoder``: a child of the
    supervised worker (``run_deadline``), which is the entrypoint's only child."""
    (worker,) = _children(engine)
    (ffmpeg,) = [pid for pid in _children(worker) if "ffmpeg" in _cmdline(pid)]
    return ffmpeg


def _start_and_wait_for_progress(argv: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if '"progress"' in line:
            return proc, lines
    raise AssertionError(f"no progress before exit: {lines}")


@pytest.mark.parametrize("how", ["sigterm-engine", "sigkill-ffmpeg"])
def test_killed_run_leaves_nothing(clips: Clips, tmp_path: Path, how: str) -> None:
    out = tmp_path / "out"
    settings = {"video": {"preset": "medium"}, "thumbnails": {"poster": False}}
    proc, lines = _start_and_wait_for_progress(
        engine_argv(clips("long_360p.mkv"), out, settings, tmp_path)
    )
    if how == "sigterm-engine":
        proc.send_signal(signal.SIGTERM)
    else:
        ffmpeg = _engine_ffmpeg(proc.pid)
        os.kill(ffmpeg, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=60)
    last = json.loads((lines + rest.splitlines())[-1])
    assert proc.returncode == 8, last
    assert last["event"] == "error" and last["category"] == "Killed"
    assert not out.exists() and leftovers(out) == []


def test_engine_killed_outright_takes_ffmpeg_along_and_a_later_run_recovers(
    clips: Clips, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    settings = {"video": {"preset": "medium"}, "thumbnails": {"poster": False}}
    proc, _ = _start_and_wait_for_progress(
        engine_argv(clips("long_360p.mkv"), out, settings, tmp_path)
    )
    ffmpeg = _engine_ffmpeg(proc.pid)
    # A stopped (or hung) ffmpeg would never notice its closed stdout: only the parent-death
    # signal can end it once the engine is gone.
    os.kill(ffmpeg, signal.SIGSTOP)
    proc.kill()  # like an OOM kill of the whole engine: no clean-up possible
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    try:
        while Path(f"/proc/{ffmpeg}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{ffmpeg}").exists(), "ffmpeg outlived the engine"
    finally:
        if Path(f"/proc/{ffmpeg}").exists():
            os.kill(ffmpeg, signal.SIGKILL)
    assert not out.exists()
    (stale,) = leftovers(out)
    past = time.time() - 2 * 3600
    for path in (tmp_path / stale).rglob("*"):
        os.utime(path, (past, past))
    os.utime(tmp_path / stale, (past, past))
    again = cli(clips("odd_318x178.mp4"), out)
    assert again.returncode == 0 and again.last("done")["committed"] is True
    assert leftovers(out) == []
    verify_dir(out)


def test_stalled_ffmpeg_is_killed_by_the_watchdog(clips: Clips, tmp_path: Path) -> None:
    out = tmp_path / "out"
    errors: list[BaseException] = []
    settings = EncodingSettings.model_validate({"video": {"preset": "medium"}})
    src = clips("long_360p.mkv")  # made here: the loop below stops the first ffmpeg it sees

    def work() -> None:
        try:
            transcode(src, out, settings, limits=Limits(stall_timeout_s=2))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 30
    stopped = False
    while not stopped and time.monotonic() < deadline:
        for pid in _children(os.getpid()):
            if "ffmpeg" in _cmdline(pid):
                time.sleep(0.5)
                os.kill(pid, signal.SIGSTOP)  # a hung read looks like this: no progress at all
                stopped = True
                break
        time.sleep(0.05)
    worker.join(timeout=60)
    assert stopped
    assert len(errors) == 1 and isinstance(errors[0], Stalled), errors
    assert errors[0].exit_code == 7
    assert not out.exists() and leftovers(out) == []
