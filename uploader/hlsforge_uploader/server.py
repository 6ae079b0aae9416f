"""uvicorn's HTTP protocol with the limits uvicorn lacks: a header-read deadline, caps on the
request head, and a connection cap that sheds slow clients before it turns anyone away.

What uvicorn (0.54, ``httptools_impl``) does by itself: a keep-alive timer that runs only after
a response and is cancelled by any byte received, so a client that connects and sends nothing,
or sends its headers a byte every few seconds, holds its connection forever; httptools (llhttp)
has no limit on the size of the request line or of the headers (the parser buffers a partial
header value whole); and ``limit_concurrency`` accepts every connection and answers 503 only
once a request's headers are complete, so under a slowloris flood it turns away the client
that sends its headers promptly and keeps the attacker's stalled connections.

Here, per connection:

- **Header deadline.** A client must complete its request line and headers within
  ``header_timeout`` seconds of connecting or of the previous response, or the connection is
  closed (with a 408 if part of a request had arrived). Body bytes are not judged here: upload
  bodies have their rate floor (``uploads.rate_floor``).
- **Head caps.** More than ``max_header_bytes`` received before the headers complete, or more
  than ``max_headers`` header lines, is a 431 and the connection is closed. Memory held per
  connection is thereby at most about ``max_header_bytes`` plus one socket read (256 KiB).
- **Connection cap.** At ``max_connections`` open connections a new one sheds the connection
  that has waited longest for its headers (idle keep-alive or slow); only if every connection
  is serving a request (or a WebSocket) is the new one refused with a 503. So a flood of
  stalled connections costs at most ``max_connections`` descriptors and can never keep out a
  client that sends its request at once.

The error bodies are the uploader's ``{"error", "detail"}`` (``errors``); answers written here
always close the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hlsforge_uploader.errors import ApiError, HeadersTimeout, HeadersTooLarge, Overloaded

log = logging.getLogger("hlsforge.server")


@dataclass(frozen=True)
class HttpLimits:
    """What one uploader process accepts on the wire (see the module docstring)."""

    header_timeout: float
    max_header_bytes: int
    max_headers: int
    max_connections: int


def error_response(exc: ApiError) -> bytes:
    """``exc`` as a complete HTTP/1.1 response that closes the connection."""
    body = json.dumps(exc.body()).encode()
    head = (
        f"HTTP/1.1 {exc.status} {HTTPStatus(exc.status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Warnings:
    """One warning line per reason per minute (a flood must not flood the log too)."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self.counts: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def note(self, reason: str, detail: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        now = time.monotonic()
        if now - self.last.get(reason, -self.every) >= self.every:
            log.warning(
                "%s (%d since the last such warning): %s", reason, self.counts[reason], detail
            )
            self.counts[reason] = 0
            self.last[reason] = now


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``limits`` (a class attribute: uvicorn builds one
    protocol object per connection from the class; ``protocol_class`` makes the class)."""

    limits: ClassVar[HttpLimits]
    warnings: ClassVar[_Warnings]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self.waiting_since: float | None = None
        """Loop time since which this connection has been waiting for a request's headers;
        None while a request is being served (then it is never shed)."""
        self._in_head = False
        """Between the first byte of a request and the end of its headers."""
        self._head_bytes = 0
        """Bytes read since the request began, while its headers are incomplete."""
        self._parsed_bytes = 0
        """The request line and headers as the parser reported them."""
        self._header_count = 0
        self._refusal: ApiError | None = None

    # Connection life
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        full = len(self.connections) >= self.limits.max_connections
        admitted = not full or self._shed_one()
        super().connection_made(transport)
        if not admitted:
            self.warnings.note("refused connections", "every connection is serving a request")
            self._answer(Overloaded("the uploader is serving as many connections as it may"))
            return
        self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        self.waiting_since = None
        super().connection_lost(exc)

    def _shed_one(self) -> bool:
        """Close the connection that has waited longest for its headers; False if none is."""
        waiting = [
            c
            for c in self.connections
            if isinstance(c, LimitedHttpToolsProtocol)
            and c.waiting_since is not None
            and not c.transport.is_closing()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c.waiting_since or 0.0)
        self.warnings.note("shed connections", "the connection cap was reached")
        oldest._close_waiting()
        return True

    # The header deadline
    def _wait_for_headers(self) -> None:
        self._stop_deadline()
        self.waiting_since = self.loop.time()
        self._deadline = self.loop.call_later(self.limits.header_timeout, self._headers_late)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.waiting_since is not None and not self.transport.is_closing():
            self.warnings.note("slow request heads", "the header deadline passed")
            self._close_waiting()

    def _close_waiting(self) -> None:
        """Close a connection that is waiting for headers: 408 if a request had begun."""
        self.waiting_since = None
        self._stop_deadline()
        if self._in_head:
            timeout = self.limits.header_timeout
            self._answer(HeadersTimeout(f"the request headers took over {timeout:g} s"))
        else:
            self.transport.close()

    # Parser callbacks and the head caps
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._in_head:
            # Still no end of headers: everything read since the request began counts (when
            # it began in this chunk, bytes before it count too: at most one read more).
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                limit = self.limits.max_header_bytes
                self._answer(HeadersTooLarge(f"the request line and headers exceed {limit} bytes"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._parsed_bytes = 0
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        self._check_parsed()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._parsed_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers:
            self._refuse(f"a request may have at most {self.limits.max_headers} headers")
        self._check_parsed()
        super().on_header(name, value)

    def _check_parsed(self) -> None:
        """A head that arrives whole in one read is measured here, as the parser reports it."""
        if self._parsed_bytes > self.limits.max_header_bytes:
            limit = self.limits.max_header_bytes
            self._refuse(f"the request line and headers exceed {limit} bytes")

    def _refuse(self, detail: str) -> None:
        self._refusal = HeadersTooLarge(detail)
        raise self._refusal  # httptools turns it into a parser error: send_400_response

    def on_headers_complete(self) -> None:
        self._in_head = False
        self.waiting_since = None
        self._stop_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn arms its keep-alive timer only when no pipelined request is ready to run:
        # then this connection waits for the next request's headers again.
        if self.timeout_keep_alive_task is not None:
            self._wait_for_headers()

    def send_400_response(self, msg: str) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is not None:
            self._answer(refusal)
        else:
            super().send_400_response(msg)

    def _answer(self, exc: ApiError) -> None:
        self.waiting_since = None
        self._stop_deadline()
        if not self.transport.is_closing():
            self.transport.write(error_response(exc))
            self.transport.close()


def protocol_class(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class to pass to ``uvicorn.run(http=...)``."""

    class Configured(LimitedHttpToolsProtocol):
        pass

    Configured.limits = limits
    Configured.warnings = _Warnings()
    return Configured


def raise_open_files_limit(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``needed`` (within the hard limit):
    each connection is a descriptor. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
