"""``hlsforge upload FILE [--wait]``: send a video to the uploader and follow its job.

Reads ``HLSFORGE_URL`` and ``HLSFORGE_TOKEN``. Shows an upload progress bar, then (with
``--wait``) the transcode's live progress from the job's event stream, then the playback URL.
``--json`` prints JSON lines instead (``uploaded``, ``status``..., ``done``/``error``).
Every run sends an Idempotency-Key, so a retry after a dropped connection never makes a
second job. Exit codes: 0 done, 1 the job failed, 2 usage, 3 refused, 4 unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
BLOCK = 1024 * 1024
RETRIES = 3


def add_parser(sub: Any) -> None:
    """Register the ``upload`` subcommand on an argparse subparsers object."""
    p: argparse.ArgumentParser = sub.add_parser(
        "upload", help="upload a video to the hlsforge uploader", description=__doc__
    )
    p.add_argument("file", type=Path, help="the video file")
    p.add_argument("--wait", action="store_true", help="follow the transcode until it ends")
    p.add_argument("--json", action="store_true", help="print JSON lines only")
    p.add_argument(
        "--options",
        metavar="JSON",
        help='ladder/policy options, e.g. \'{"segmentFormat": "fmp4", "priority": 5}\'',
    )
    p.add_argument("--idempotency-key", metavar="KEY", help="default: a new random key per run")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait (default 3600)")


class Refused(Exception):  # noqa: N818 - the server's verdict
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail") or f"HTTP {status}")
        self.status = status
        self.body = body


def _chunks(path: Path, advance: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            advance(len(block))
            yield block


def send(
    base: str,
    token: str,
    path: Path,
    options: str | None,
    key: str,
    advance: Callable[[int], None],
    restart: Callable[[], None],
) -> dict[str, Any]:
    """POST the file (streamed, with Content-Length); retried with the same key on a dropped
    connection. Returns the 201 body; raises ``Refused`` or ``httpx.TransportError``."""
    import httpx  # the `client` extra: imported only by the commands that need it

    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/octet-stream",
        "Content-Length": str(path.stat().st_size),
        "Idempotency-Key": key,
    }
    params = {"options": options} if options else None
    timeout = httpx.Timeout(60.0, write=300.0)
    for attempt in range(RETRIES):
        restart()
        try:
            with httpx.Client(timeout=timeout) as client:
                r = client.post(
                    f"{base}/v1/uploads",
                    content=_chunks(path, advance),
                    headers=headers,
                    params=params,
                )
        except httpx.TransportError:
            if attempt == RETRIES - 1:
                raise
            time.sleep(1 + attempt)
            continue
        if r.status_code == 409 and attempt < RETRIES - 1:  # our own earlier attempt
            time.sleep(1 + attempt)
            continue
        try:
            body: dict[str, Any] = r.json()
        except ValueError:
            body = {"detail": r.text[:200]}
        if r.status_code != 201:
            raise Refused(r.status_code, body)
        return body
    raise AssertionError("unreachable")


async def follow(
    events_url: str, token: str, on_job: Callable[[dict[str, Any]], None], timeout: float
) -> dict[str, Any]:
    """Read the job's event stream until it is Succeeded or Failed; reconnects resume."""
    import websockets

    last_rv: str | None = None
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        url = events_url + (f"?resourceVersion={last_rv}" if last_rv else "")
        try:
            async with websockets.connect(
                url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=20
            ) as ws:
                async for raw in ws:
                    message = json.loads(raw)
                    last_rv = message.get("resourceVersion") or last_rv
                    jobs = message.get("jobs") or ([message["job"]] if "job" in message else [])
                    for job in jobs:
                        on_job(job)
                        if message.get("type") == "DELETED":
                            return {**job, "phase": "Failed", "message": "the job was deleted"}
                        if job.get("phase") in ("Succeeded", "Failed"):
                            return job
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == 4404:
                return {**job, "phase": "Failed", "message": "the job no longer exists"}
            await asyncio.sleep(1)
        except (OSError, websockets.InvalidStatus) as exc:
            if isinstance(exc, websockets.InvalidStatus) and exc.response.status_code in (
                401,
                403,
            ):
                raise
            await asyncio.sleep(1)
    raise TimeoutError(f"the job did not finish within {timeout:.0f}s (last: {job})")


def run(args: argparse.Namespace) -> int:
    import httpx
    import websockets

    err = Console(stderr=True)
    base = os.environ.get("HLSFORGE_URL", "").rstrip("/")
    token = os.environ.get("HLSFORGE_TOKEN", "")

    def emit(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def fail(code: int, reason: str, message: str) -> int:
        if args.json:
            emit({"event": "error", "exit_code": code, "reason": reason, "message": message})
        else:
            err.print(f"[red]{reason}[/]: {message}")
        return code

    if not base or not token:
        return fail(EXIT_USAGE, "Usage", "set HLSFORGE_URL and HLSFORGE_TOKEN")
    if not args.file.is_file():
        return fail(EXIT_USAGE, "Usage", f"{args.file} is not a file")
    size = args.file.stat().st_size
    key = args.idempotency_key or str(uuid.uuid4())

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=args.json,
    )
    task = progress.add_task("uploading", total=size, detail="")
    try:
        with progress:
            created = send(
                base,
                token,
                args.file,
                args.options,
                key,
                lambda n: progress.advance(task, n),
                lambda: progress.reset(task, total=size),
            )
    except Refused as exc:
        reason = str(exc.body.get("reason") or exc.body.get("error") or exc.status)
        return fail(EXIT_REFUSED, reason, str(exc))
    except httpx.TransportError as exc:
        return fail(EXIT_UNREACHABLE, "Unreachable", f"{base}: {exc}")

    if args.json:
        emit({"event": "uploaded", **{k: v for k, v in created.items() if k != "job"}})
    else:
        err.print(f"uploaded [bold]{args.file.name}[/] → job [bold]{created['id']}[/]")
    if not args.wait:
        if not args.json:
            sys.stdout.write(created["playbackUrl"] + "\n")
        return EXIT_OK

    transcode = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        console=err,
        transient=True,
        disable=args.json,
    )
    ttask = transcode.add_task("Pending", total=100, detail="")

    def on_job(job: dict[str, Any]) -> None:
        if args.json:
            keys = ("id", "phase", "progress", "speed", "eta", "attempts", "message")
            emit({"event": "status", **{k: job.get(k) for k in keys if job.get(k) is not None}})
            return
        detail = ""
        if job.get("speed"):
            detail += f"{job['speed']:.2f}x "
        if job.get("eta") is not None:
            detail += f"eta {job['eta']}s "
        if (job.get("attempts") or 0) > 1:
            detail += f"attempt {job['attempts']}"
        transcode.update(
            ttask, description=job.get("phase", ""), completed=job.get("progress", 0), detail=detail
        )

    try:
        with transcode:
            final = asyncio.run(follow(created["eventsUrl"], token, on_job, args.timeout))
    except (TimeoutError, websockets.InvalidStatus) as exc:
        return fail(EXIT_UNREACHABLE, "EventsUnavailable", str(exc))
    if final.get("phase") != "Succeeded":
        return fail(EXIT_FAILED, final.get("reason") or "Failed", final.get("message") or "")
    if args.json:
        emit(
            {
                "event": "done",
                "id": created["id"],
                "phase": "Succeeded",
                "playbackUrl": created["playbackUrl"],
            }
        )
    else:
        err.print(f"[green]Succeeded[/] in {final.get('attempts', 1)} attempt(s)")
        sys.stdout.write(created["playbackUrl"] + "\n")
    return EXIT_OK
