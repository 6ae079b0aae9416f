"""Run a short-lived tool (ffprobe) with a deadline that kills its whole process group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import time
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


class ToolOutputTooLargeError(Exception):
    """The child wrote more than it may to stdout; its group was killed."""


STDERR_TAIL_BYTES = 64 * 1024
"""What a capped run keeps of stderr: its end, where the reason for a failure is."""


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


def run_bounded(
    argv: list[str],
    timeout_s: float,
    confine: Confinement | None = None,
    *,
    max_output_bytes: int | None = None,
) -> Completed:
    """Run ``argv``, stdin closed, pipes drained; ``ToolTimeoutError`` after ``timeout_s``.

    ``communicate`` drains stdout and stderr together, so a chatty child never blocks on a
    full pipe. On timeout the process group is killed, not just the child. With
    ``max_output_bytes`` stdout is read as it comes and more than that kills the group
    (``ToolOutputTooLargeError``), and only the last ``STDERR_TAIL_BYTES`` of stderr are kept:
    what the child says about a hostile file never grows our memory without bound.
    """
    proc = spawn(argv, confine)
    if max_output_bytes is not None:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            out, err = _drain_capped(proc, argv[0], time.monotonic() + timeout_s, max_output_bytes)
        except BaseException:
            kill_group(proc)
            proc.wait()
            raise
        finally:
            proc.stdout.close()
            proc.stderr.close()
        return Completed(proc.wait(), out, err)
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


def _drain_capped(
    proc: subprocess.Popen[str], name: str, deadline: float, cap: int
) -> tuple[str, str]:
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout.fileno(), selectors.EVENT_READ, out)
        selector.register(proc.stderr.fileno(), selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ToolTimeoutError(f"{name} did not finish within the time allowed")
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                buffer: bytearray = key.data
                buffer += chunk
                if buffer is err and len(err) > STDERR_TAIL_BYTES:
                    del err[: len(err) - STDERR_TAIL_BYTES]
                if len(out) > cap:
                    raise ToolOutputTooLargeError(f"{name} wrote more than {cap} bytes")
    return out.decode(errors="replace"), err.decode(errors="replace")
