"""Starting, recognising and stopping the processes the cluster script owns.

A pidfile holds "<pid> <start-time>": the start time (field 22 of /proc/<pid>/stat) makes a
recycled pid look dead instead of getting someone else's process killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def say(msg: str) -> None:
    """A progress line of the cluster script, on stderr (stdout is for what commands print)."""
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


class ClusterError(RuntimeError):
    """A component failed; the message names it and quotes the tail of its log."""


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19]  # field 22 overall; fields[0] is field 3


@dataclass(frozen=True)
class Proc:
    name: str
    pid: int
    started: str

    def alive(self) -> bool:
        if start_time(self.pid) != self.started:
            return False
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"


def read_pidfile(path: Path) -> Proc | None:
    try:
        pid_s, started = path.read_text().split()
    except (OSError, ValueError):
        return None
    return Proc(path.stem, int(pid_s), started)


def running(pids: Path, name: str) -> Proc | None:
    proc = read_pidfile(pids / f"{name}.pid")
    return proc if proc is not None and proc.alive() else None


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {log})"
    return "\n".join(text[-lines:])


def spawn(name: str, argv: list[str], pids: Path, logs: Path, env: dict[str, str]) -> Proc:
    """Start argv in its own session, output appended to logs/<name>.log, pid recorded."""
    pids.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    started = None
    for _ in range(50):
        started = start_time(child.pid)
        if started is not None:
            break
        time.sleep(0.01)
    if started is None:
        raise ClusterError(f"{name} exited at once:\n{log_tail(log)}")
    (pids / f"{name}.pid").write_text(f"{child.pid} {started}\n")
    return Proc(name, child.pid, started)


def stop(proc: Proc, timeout: float = 20.0, sig: signal.Signals = signal.SIGTERM) -> None:
    """sig (SIGTERM), then SIGKILL after timeout; only if the pid is still the same process."""
    if not proc.alive():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            _reap(proc.pid)
            return
        _reap(proc.pid)
        time.sleep(0.1)
    if proc.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.2)
        _reap(proc.pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, log: Path, proc: Proc | None = None
) -> None:
    """Poll check() until true; fail early if proc died; quote the log tail on failure.

    The process must still be alive a moment after the check passed: a foreign process on
    the same port could otherwise answer the health check for a component that just died.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise ClusterError(f"{proc.name} died while waiting for {what}:\n{log_tail(log)}")
        if check():
            if proc is None:
                return
            time.sleep(0.3)
            if proc.alive():
                return
            continue
        time.sleep(0.5)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}:\n{log_tail(log)}")


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def insecure_context() -> ssl.SSLContext:
    """For /healthz of components with self-signed serving certs on loopback."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def pids_with_arg(needle: str, exe_suffix: str) -> list[Proc]:
    """Processes whose executable ends with exe_suffix and whose argv contains needle.

    Used for containerd shims started by OUR containerd (their argv names our socket).
    """
    found: list[Proc] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].decode(errors="replace").endswith(exe_suffix):
            continue
        if any(needle.encode() in a for a in argv):
            started = start_time(int(entry.name))
            if started is not None:
                found.append(Proc(exe_suffix, int(entry.name), started))
    return found
