"""The prober: ffprobe for the uploader, in a container that holds nothing worth stealing.

``python3 -m hlsforge_uploader.prober`` (this ``main``) runs in its own container of the
uploader pod, with its own uid, no service-account token, no API token, no S3 key and no media
volume (the chart's ``deployment-uploader.yaml``). It listens on a unix socket in an emptyDir
shared only with the uploader container and answers one ``ProbeRequest`` per connection
(``protocol``):

- ``fd``: exactly one descriptor arrives with the request (``SCM_RIGHTS``), opened read-only by
  the uploader on the upload's file; it is the only file of the volume this process can reach;
- ``url``: a presigned GET URL of one object, valid for minutes (S3 mode).

Each probe runs ``sandbox.probe_source`` (empty environment, rlimits, deadline, the
engine's allow-lists). This process makes itself non-dumpable, so a taken-over ffprobe child
(same uid) cannot ptrace it or open its ``/proc/<pid>/fd`` to reach another upload's descriptor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import stat
import threading
import time

from hlsforge_media.unix_socket import listen, non_dumpable, peer_uid
from hlsforge_uploader.prober.protocol import (
    MAX_REQUEST_BYTES,
    ProbeRequest,
    ProtocolError,
    frame,
    parse_request,
    recv_frame,
)
from hlsforge_uploader.prober.sandbox import ProbeOutcome, fd_input, probe_source, url_input
from hlsforge_uploader.settings import ProberSettings

log = logging.getLogger("hlsforge.prober")


def refuse(reason: str, message: str) -> ProbeOutcome:
    return ProbeOutcome(status="unavailable", reason=reason, message=message)


def answer(request: ProbeRequest, fds: list[int], settings: ProberSettings) -> ProbeOutcome:
    """The outcome of one request whose descriptors (if any) were received; closes none."""
    limits = settings.limits
    if request.kind == "url":
        if fds:
            return refuse("BadRequest", "a url request carries no descriptor")
        assert request.url is not None
        return probe_source(url_input(request.url, request.name, limits), limits)
    if len(fds) != 1:
        return refuse("BadRequest", f"an fd request carries one descriptor, not {len(fds)}")
    fd = fds[0]
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        return refuse("BadRequest", "the descriptor is not a regular file")
    return probe_source(fd_input(fd, request.name, limits), limits, (fd,))


def handle(conn: socket.socket, settings: ProberSettings) -> None:
    """One connection: check the peer, read the request (+ descriptor), probe, answer."""
    fds: list[int] = []
    started = time.monotonic()
    name = "?"
    try:
        conn.settimeout(settings.request_timeout_seconds)
        if settings.allowed_uid is not None and peer_uid(conn) != settings.allowed_uid:
            log.warning("refused a connection from uid %d", peer_uid(conn))
            return
        data, fds, flags, _addr = socket.recv_fds(
            conn, MAX_REQUEST_BYTES + 4, 1, socket.MSG_CMSG_CLOEXEC
        )
        if not data:  # a readiness check: connected and went away
            return
        if flags & socket.MSG_CTRUNC:
            outcome = refuse("BadRequest", "more than one descriptor was sent")
        else:
            try:
                request = parse_request(recv_frame(conn, MAX_REQUEST_BYTES, data))
                name = request.name
                conn.settimeout(None)  # the probe has its own deadline
                outcome = answer(request, fds, settings)
            except ProtocolError as exc:
                outcome = refuse("BadRequest", str(exc))
        conn.sendall(frame(outcome))
        log.info(
            "probe %s: %s %s (%.2f s)",
            name,
            outcome.status,
            outcome.reason,
            time.monotonic() - started,
        )
    except OSError as exc:
        log.warning("probe %s: connection failed: %s", name, exc)
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        conn.close()


def serve(settings: ProberSettings, stop: threading.Event | None = None) -> None:
    """Accept and answer until ``stop`` is set (or forever). At most ``max_concurrent``
    probes run; further connections wait in the backlog."""
    non_dumpable()
    server = listen(settings.socket, backlog=16)
    server.settimeout(1.0)
    slots = threading.BoundedSemaphore(settings.max_concurrent)
    log.info("prober listening on %s (limits %s)", settings.socket, settings.limits)
    try:
        while stop is None or not stop.is_set():
            if not slots.acquire(timeout=1.0):
                continue
            try:
                conn, _ = server.accept()
            except TimeoutError:
                slots.release()
                continue
            conn.settimeout(None)

            def work(conn: socket.socket = conn) -> None:
                try:
                    handle(conn, settings)
                finally:
                    slots.release()

            threading.Thread(target=work, name="probe", daemon=True).start()
    finally:
        server.close()


def main() -> None:
    settings = ProberSettings()  # socket from HLSFORGE_PROBER_SOCKET
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    stop = threading.Event()
    # As PID 1 of its container, a signal without a handler is ignored: stop on SIGTERM.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    serve(settings, stop)
