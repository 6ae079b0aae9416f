"""The supervised port-forward to the uploader Service that `up` leaves behind, and the local
port it listens on. Its pidfile holds "<pid> <start time>", so `down` stops exactly it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .settings import NAMESPACE, PORT, SCRIPT, service_name
from .tools import Tools, log


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (/proc/PID/stat field 22): tells a recycled pid
    from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def forward_pidfile(tools: Tools) -> Path:
    return tools.state / "forward.pid"


def forward_running(tools: Tools) -> int | None:
    pidfile = forward_pidfile(tools)
    try:
        pid_text, started = pidfile.read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if _start_time(pid) == started else None


def start_forward(tools: Tools) -> None:
    """Start the supervised port-forward (127.0.0.1:PORT -> the uploader Service) as a daemon."""
    if forward_running(tools):
        return
    tools.state.mkdir(parents=True, exist_ok=True)
    logfile = (tools.state / "forward.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "_forward"],
        stdin=subprocess.DEVNULL,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    logfile.close()
    started = None
    for _ in range(50):
        started = _start_time(proc.pid)
        if started:
            break
        time.sleep(0.1)
    forward_pidfile(tools).write_text(f"{proc.pid} {started}\n")
    # Register as a user of the cluster (the test fixture's protocol, docs/cluster.md): a test
    # session that started the cluster then leaves it up while the install is in use.
    session_file(tools, proc.pid).parent.mkdir(parents=True, exist_ok=True)
    session_file(tools, proc.pid).write_text(f"{proc.pid}\n")


def session_file(tools: Tools, pid: int) -> Path:
    return tools.kubeconfig.parent / "sessions" / str(pid)


def stop_forward(tools: Tools) -> None:
    pid = forward_running(tools)
    if pid is not None:
        session_file(tools, pid).unlink(missing_ok=True)
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if _start_time(pid) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
    forward_pidfile(tools).unlink(missing_ok=True)
    (tools.state / "port").unlink(missing_ok=True)


def forward_loop() -> int:
    """Run `kubectl port-forward` and restart it when it exits (a restarted uploader pod ends
    it); SIGTERM stops both."""
    tools = Tools.find()
    child: subprocess.Popen[bytes] | None = None

    def stop(_signo: int, _frame: object) -> None:
        if child and child.poll() is None:
            child.terminate()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    service = f"svc/{service_name()}"
    port = local_port(tools)
    for _ in range(100):  # our parent writes the pidfile just after starting us
        if forward_running(tools) == os.getpid():
            break
        time.sleep(0.1)
    # Stop when the pidfile no longer names us (`down`, or the cluster's state was removed).
    while forward_running(tools) == os.getpid():
        child = subprocess.Popen(
            tools.kubectl_argv(
                "port-forward", "-n", NAMESPACE, "--address", "127.0.0.1", service, f"{port}:80"
            )
        )
        child.wait()
        time.sleep(1)
    return 0


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port() -> int:
    if port_free(PORT):
        return PORT
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    log(f"127.0.0.1:{PORT} is taken: using {port}")
    return port


def local_port(tools: Tools) -> int:
    try:
        return int((tools.state / "port").read_text())
    except (OSError, ValueError):
        return PORT


def url(tools: Tools) -> str:
    return f"http://127.0.0.1:{local_port(tools)}"
