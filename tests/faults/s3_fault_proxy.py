"""A fault-injecting reverse proxy in front of a real S3 server, for the fault table (rows 7.x).

Standard library only: it runs as ``python3 s3_fault_proxy.py`` in a pod of the transcoder
image (the cluster's S3 clients reach it as the store) and its control port is driven by the
test through a port-forward (``tests/faults/s3_proxy_cluster.py``).

Every request gets its own upstream connection (``Connection: close`` is forced both ways),
so a rule applies to exactly the requests it matches, even on a client's kept-alive
connection. The bytes of a request that passes are relayed untouched (the ``Host`` header
too), so SigV4 signatures, presigned URLs and ``Expect: 100-continue`` work as without it.

Modes of the rule, for the requests whose method and path (``/<bucket>/<key>``) match:
``pass`` relays; ``down`` closes the connection without an answer (a server that died);
``503`` answers ``503 SlowDown`` in S3's XML; ``slow`` waits ``delay`` seconds, then relays.
Control (JSON over HTTP): ``PUT /rule`` ``{"mode", "method", "key", "delay", "after"}``
(``method`` a regex on the method, ``key`` a regex searched in the path, empty matches all;
``after`` arms the rule at the first request matching it) replaces the rule; ``GET /log``
is every request seen: ``[seconds, method, path, verdict]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
MAX_DRAIN = 64 << 20
MAX_LOG = 20_000
MODES = ("pass", "down", "503", "slow")
SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


@dataclass
class Rule:
    mode: str = "pass"
    method: str = ""
    key: str = ""
    delay: float = 0.0
    after: str = ""
    """A regex on ``"<method> <path>"``: the rule holds only from the first request that
    matches it on (that request itself passes), so a fault can start at an exact step."""

    def __post_init__(self) -> None:
        self.armed = not self.after

    def applies(self, method: str, path: str) -> bool:
        if not self.armed:
            self.armed = bool(re.search(self.after, f"{method} {path}"))
            return False
        return bool(re.fullmatch(self.method or ".*", method) and re.search(self.key, path))


class Proxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.rule = Rule()
        self.log: list[list[object]] = []
        self.started = time.monotonic()

    def note(self, method: str, path: str, verdict: str) -> None:
        self.log.append([round(time.monotonic() - self.started, 3), method, path, verdict])
        del self.log[:-MAX_LOG]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target = [*lines[0].split(" "), "", ""][:2]
        path = target.split("?", 1)[0]
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        rule = self.rule
        verdict = rule.mode if rule.applies(method, path) else "pass"
        self.note(method, path, verdict)
        try:
            if verdict == "down":
                await self.hang_up(reader, writer)
                return
            if verdict == "503":
                await self.answer_503(reader, writer, headers)
                return
            if verdict == "slow":
                await asyncio.sleep(rule.delay)
            await self.relay(head, lines, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            writer.transport.abort()

    async def hang_up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close without an answer, never with a reset: FIN first, then read (and drop) what
        the client still sends until it closes. A reset would kill a ``kubectl port-forward``
        the host's clients reach the proxy through, which is no S3 outage but a dead tunnel."""
        writer.write_eof()
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(30):
                while await reader.read(1 << 16):
                    pass
        writer.close()

    async def answer_503(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
    ) -> None:
        length = int(headers.get("content-length", "0") or 0)
        if "100-continue" not in headers.get("expect", "").lower() and 0 < length <= MAX_DRAIN:
            await reader.readexactly(length)  # read, so closing sends FIN, not RST
        writer.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
            + f"Content-Length: {len(SLOWDOWN)}\r\nConnection: close\r\n\r\n".encode()
            + SLOWDOWN
        )
        await writer.drain()
        writer.close()

    async def relay(
        self,
        head: bytes,
        lines: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        kept = [x for x in lines[1:] if x and not x.lower().startswith(("connection:", "keep-"))]
        up_writer.write(
            "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        )

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while chunk := await src.read(1 << 16):
                dst.write(chunk)
                await dst.drain()

        upload = asyncio.create_task(pump(reader, up_writer))
        try:
            await pump(up_reader, writer)  # the answer, until the server closes
        finally:
            upload.cancel()
            up_writer.close()
            writer.close()

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        found = re.search(r"(?im)^content-length:\s*(\d+)", head)
        length = min(int(found.group(1)), MAX_HEAD) if found else 0
        body = await reader.readexactly(length) if length else b""
        status, answer = "200 OK", b"{}"
        if head.startswith("PUT /rule"):
            given = json.loads(body)
            if given.get("mode") not in MODES:
                status, answer = "400 Bad Request", b'{"error": "mode"}'
            else:
                self.rule = Rule(given["mode"], given.get("method") or "", given.get("key") or "",
                                 min(float(given.get("delay") or 0), 120.0),
                                 given.get("after") or "")  # fmt: skip
        elif head.startswith("GET /log"):
            answer = json.dumps(self.log).encode()
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: {len(answer)}\r\n"
                     "Connection: close\r\n\r\n".encode() + answer)  # fmt: skip
        await writer.drain()
        writer.close()


async def main(listen: int, control: int, upstream: str) -> None:
    host, _, port = upstream.rpartition(":")
    proxy = Proxy((host, int(port)))
    data = await asyncio.start_server(proxy.serve, "0.0.0.0", listen, limit=MAX_HEAD)  # noqa: S104
    ctl = await asyncio.start_server(proxy.control, "0.0.0.0", control)  # noqa: S104
    async with data, ctl:
        await asyncio.gather(data.serve_forever(), ctl.serve_forever())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, default=7070)
    parser.add_argument("--control", type=int, default=7071)
    parser.add_argument("--upstream", default="s3:7070")
    args = parser.parse_args()
    asyncio.run(main(args.listen, args.control, args.upstream))
