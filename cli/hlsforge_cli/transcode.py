"""``hlsforge transcode SRC OUTDIR``: the transcoder engine on a laptop.

Same engine, same exit codes as the container (``python -m hlsforge_transcoder``). A progress
bar and a summary table for people; ``--json`` prints the engine's JSON-lines events only.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from hlsforge_api.errors import Killed, TranscodeError, UsageError
from hlsforge_api.events import Done, Event, Planned, encode
from hlsforge_api.events import Progress as ProgressEvent
from hlsforge_api.exitcodes import ExitCode
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import DEFAULT_LIMITS, runtime_limits
from hlsforge_transcoder.__main__ import deadline_seconds, done_event
from hlsforge_transcoder.dispatch import run_job
from hlsforge_transcoder.run_deadline import supervise

_RENDITION = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_-]{0,31}):(?P<height>\d+):(?P<kbps>\d+)$")


def add_parser(sub: Any) -> None:
    """Register the ``transcode`` subcommand on an argparse subparsers object."""
    p: argparse.ArgumentParser = sub.add_parser(
        "transcode", help="transcode a video file into an HLS folder", description=__doc__
    )
    p.add_argument("src", help="source video file, or s3://bucket/key")
    p.add_argument(
        "outdir",
        help="output folder (must not exist, or be empty), or s3://bucket/prefix "
        "(S3: HLSFORGE_S3_* settings and the AWS credential chain)",
    )
    p.add_argument("--json", action="store_true", help="print JSON-lines events only")
    p.add_argument("--segment-duration", type=int, default=4, metavar="SECONDS")
    p.add_argument("--segment-format", choices=("ts", "fmp4"), default="ts")
    p.add_argument(
        "--rendition",
        action="append",
        metavar="NAME:HEIGHT:KBPS",
        help="explicit ladder entry, repeatable (default: 1080p/720p/480p/360p, no upscaling)",
    )
    p.add_argument("--codec", choices=("h264", "h265"), default="h264")
    p.add_argument("--preset", default="veryfast", help="x264/x265 preset (default veryfast)")
    p.add_argument("--no-audio", action="store_true", help="drop audio")
    p.add_argument("--no-copy", action="store_true", help="always re-encode the top rendition")
    p.add_argument("--no-poster", action="store_true", help="do not write poster.jpg")
    p.add_argument("--sprite", action="store_true", help="also write sprite.jpg + sprite.vtt")
    p.add_argument(
        "--deadline-seconds",
        type=deadline_seconds,
        default=DEFAULT_LIMITS.run_deadline_s,
        help="wall-clock limit on the whole run, as in the container; then it exits 7 "
        "(Stalled, RunDeadline) with nothing committed",
    )


def settings_from_args(args: argparse.Namespace) -> EncodingSettings:
    """Build and validate the settings; raises ``ValueError`` with a readable message."""
    renditions = []
    for text in args.rendition or []:
        match = _RENDITION.match(text)
        if match is None:
            raise ValueError(f"--rendition {text!r} is not NAME:HEIGHT:KBPS (e.g. 720p:720:2800)")
        renditions.append(
            {
                "name": match["name"],
                "height": int(match["height"]),
                "videoBitrateKbps": int(match["kbps"]),
            }
        )
    wire: dict[str, Any] = {
        "segmentDuration": args.segment_duration,
        "segmentFormat": args.segment_format,
        "video": {"codec": args.codec, "preset": args.preset, "allowCopy": not args.no_copy},
        "audio": {"codec": "none" if args.no_audio else "aac"},
        "thumbnails": {"poster": not args.no_poster, "sprite": {} if args.sprite else None},
    }
    if renditions:
        wire["renditions"] = renditions
    try:
        return EncodingSettings.model_validate(wire)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(problems) from None


def _summary(event: Done) -> Table:
    outputs = event.outputs
    table = Table(title=f"{outputs.master_playlist}  ({outputs.duration_seconds or 0:.1f} s)")
    for column in ("rendition", "resolution", "bandwidth", "average", "codecs", "copied"):
        table.add_column(column, justify="right" if "band" in column else "left")
    for r in outputs.renditions:
        table.add_row(
            r.name,
            r.resolution,
            f"{r.bandwidth / 1e6:.2f} Mb/s",
            f"{(r.average_bandwidth or 0) / 1e6:.2f} Mb/s",
            r.codecs or "",
            "yes" if r.copied else "no",
        )
    return table


def run(args: argparse.Namespace) -> int:
    """Validate the arguments, then run the engine under the same whole-run watchdog as the
    container (``run_deadline.supervise``: a forked child does the work)."""
    err = Console(stderr=True)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        if args.json:
            sys.stdout.write(encode(UsageError("Usage", str(exc)).to_event()))
        else:
            err.print(f"[red]error:[/] {exc}")
        return int(ExitCode.USAGE)

    def report(exc: TranscodeError) -> None:
        """What the watchdog says when the child could not say it (it was killed)."""
        if args.json:
            sys.stdout.write(encode(exc.to_event()))
            sys.stdout.flush()
        else:
            err.print(f"[red]{exc.exit_code.reason}[/] ({exc.reason}): {exc.message}")

    return supervise(lambda: _work(args, settings), args.deadline_seconds, report=report)


def _work(args: argparse.Namespace, settings: EncodingSettings) -> int:
    out = Console()
    err = Console(stderr=True)
    if args.json:

        def emit(event: Event) -> None:
            sys.stdout.write(encode(event))
            sys.stdout.flush()

        try:
            result = run_job(args.src, args.outdir, settings, limits=runtime_limits(), emit=emit)
        except TranscodeError as exc:
            emit(exc.to_event())
            return int(exc.exit_code)
        except KeyboardInterrupt:
            emit(Killed("Interrupted", "^C").to_event())
            return int(ExitCode.KILLED)
        emit(done_event(result))
        return int(ExitCode.OK)

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task: TaskID = progress.add_task("probing", total=100, detail="")

    def show(event: Event) -> None:
        if isinstance(event, Planned):
            for note in event.notes:
                progress.console.print(f"[yellow]note:[/] {note}")
            names = ", ".join(f"{r.name}{' (copy)' if r.copy_ else ''}" for r in event.renditions)
            progress.update(task, description=f"encoding {names}")
        elif isinstance(event, ProgressEvent):
            detail = f"{event.fps or 0:.0f} fps {event.speed or 0:.2f}x"
            progress.update(task, completed=event.percent, detail=detail)

    try:
        with progress:
            result = run_job(args.src, args.outdir, settings, limits=runtime_limits(), emit=show)
    except TranscodeError as exc:
        err.print(f"[red]{exc.exit_code.reason}[/] ({exc.reason}): {exc.message}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]: nothing was committed")
        return int(ExitCode.KILLED)
    event = done_event(result)
    out.print(_summary(event))
    if not result.committed:
        out.print("[yellow]a verified output was already there; it was left untouched[/]")
    return int(ExitCode.OK)
