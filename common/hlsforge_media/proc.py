"""Run a short-lived tool (ffprobe) with a deadline that kills its whole process group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

_PR_SET_PDEATHSIG = 1
_prctl: Callable[..., int] | None
try:  # resolved once here: nothing may be loaded between fork and exec
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def die_with_parent() -> None:
    """``preexec_fn``: SIGKILL the child if the engine dies, even by SIGKILL (Linux).

    The children run in their own session (so a terminal's ^C reaches only the engine, which
    then cleans up); without this an engine killed outright would leave ffmpeg running.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class ToolTimeoutError(Exception):
    pass


def kill_group(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


CLEAN_ENV: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
"""What a child gets when nothing else is asked: ffmpeg and ffprobe parse untrusted media, so
they never inherit our environment (S3 keys, presigned URLs, tokens stay out of their
``/proc/self/environ``)."""


@dataclass(frozen=True)
class Confinement:
    """How a child is started beyond the defaults: its whole environment (``None``: only
    ``CLEAN_ENV``, never ours), the descriptors it keeps (same numbers), and a hook run in the
    child between fork and exec (e.g. ``setrlimit``; it may call nothing that takes a lock)."""

    env: Mapping[str, str] | None = None
    pass_fds: Collection[int] = ()
    before_exec: Callable[[], None] | None = None


def spawn(argv: list[str], confine: Confinement | None = None) -> subprocess.Popen[str]:
    """Start a child in its own session (its group can be killed), stdin closed, both pipes
    captured as text, and dying with us (``die_with_parent``). Raises OSError."""
    confine = confine or Confinement()
    hook = confine.before_exec

    def preexec() -> None:
        die_with_parent()
        if hook is not None:
            hook()

    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=preexec,
        env=confine.env if confine.env is not None else CLEAN_ENV,
        pass_fds=tuple(confine.pass_fds),
    )


def run_bounded(argv: list[str], timeout_s: float, confine: Confinement | None = None) -> Completed:
    """Run ``argv``, stdin closed, pipes drained; ``ToolTimeoutError`` after ``timeout_s``.

    ``communicate`` drains stdout and stderr together, so a chatty child never blocks on a
    full pipe. On timeout the process group is killed, not just the child.
    """
    proc = spawn(argv, confine)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        raise ToolTimeoutError(f"{argv[0]} did not finish within {timeout_s:g} s") from None
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    return Completed(proc.returncode, out, err)
