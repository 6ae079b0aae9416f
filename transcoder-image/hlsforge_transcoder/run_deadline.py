"""One watchdog for the whole run, Python included.

ffmpeg has its own no-progress watchdog (``ffmpeg_run``), but the engine also computes in
Python before and after it (sniff, probe, plan, describe, manifest, verify, publish), and a
Python step that hangs, even one stuck in C code that never releases the interpreter (a huge
integer, a regex), must not hold the pod. A thread or ``signal.alarm`` in the same process
cannot stop that. So the entrypoint forks: the child does the work, and this process (PID 1
in the pod) only waits for it, with the deadline:

1. at ``deadline_s`` the child gets ``DEADLINE_SIGNAL``; its handler raises ``Stalled``
   (reason ``RunDeadline``) wherever it is, so the usual unwinding runs: ffmpeg's process
   group is killed, the work directory is removed, the ``error`` event is written and the
   child exits ``STALLED``;
2. if it has not ended ``grace_s`` later (stuck in C), it is SIGKILLed; its own children die
   with it (``proc.die_with_parent``), and this process reports ``RunDeadline`` and exits
   ``STALLED`` itself. The attempt's work directory is then left for the next attempt's sweep
   (``Limits.stale_attempt_age_s``).

SIGTERM (pod deletion) is passed on to the child, which stops as before (exit ``KILLED``). A
child killed by a signal (the OOM killer) is reported as ``Killed`` with exit ``KILLED``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from hlsforge_api.errors import Killed, Stalled, TranscodeError
from hlsforge_media.proc import die_with_parent

DEADLINE_SIGNAL = signal.SIGUSR1
GRACE_S = 10.0
MAX_DEADLINE_S = 7 * 24 * 3600.0
"""The longest deadline accepted (a TranscodeJob's deadline is at most 7 days)."""

POLL_S = 0.2

Report = Callable[[TranscodeError], None]


def deadline_error(deadline_s: float) -> Stalled:
    return Stalled("RunDeadline", f"the run did not finish within {deadline_s:g} s; stopped")


def supervise(
    work: Callable[[], int], deadline_s: float, *, report: Report, grace_s: float = GRACE_S
) -> int:
    """Run ``work`` (returns an exit code) in a forked child under ``deadline_s`` of wall
    clock; return the run's exit code. ``report`` writes an error the child could not write
    itself (it was killed). Call it before any thread is started."""
    if not 0 < deadline_s <= MAX_DEADLINE_S or not 0 <= grace_s <= 600:
        raise ValueError(f"deadline {deadline_s!r} s or grace {grace_s!r} s out of range")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(work, deadline_s)
    return _supervise(pid, deadline_s, grace_s, report)


def _child(work: Callable[[], int], deadline_s: float) -> NoReturn:
    code = 1
    try:
        die_with_parent()

        def on_deadline(_signum: int, _frame: FrameType | None) -> None:
            raise deadline_error(deadline_s)

        signal.signal(DEADLINE_SIGNAL, on_deadline)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = work()
    except BaseException:  # a bug: say so on stderr, exit 1 like an uncaught exception
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _open_pidfd(pid: int) -> int | None:
    """A descriptor that turns readable when the child ends; ``None`` where a seccomp profile
    refuses ``pidfd_open`` (then ``_wait`` polls)."""
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def _wait(pid: int, pidfd: int | None, seconds: float) -> int | None:
    """The child's wait status once it has ended, or ``None`` after ``seconds``."""
    end = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        left = end - time.monotonic()
        if left <= 0:
            return None
        if pidfd is None:
            time.sleep(min(left, POLL_S))
        else:
            select.select([pidfd], [], [], left)  # readable when the child ends


def _supervise(pid: int, deadline_s: float, grace_s: float, report: Report) -> int:
    signal.signal(signal.SIGTERM, lambda signum, _frame: _signal(pid, signum))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C reaches the child too
    pidfd = _open_pidfd(pid)
    try:
        status = _wait(pid, pidfd, deadline_s)
        if status is None:
            _signal(pid, DEADLINE_SIGNAL)
            status = _wait(pid, pidfd, grace_s)
        if status is None:
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            error: TranscodeError = deadline_error(deadline_s)
            report(error)
            return int(error.exit_code)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        error = Killed("Signal", f"the engine was killed by signal {signal.Signals(signum).name}")
        report(error)
        return int(error.exit_code)
    return os.waitstatus_to_exitcode(status)
