"""Container entrypoint: ``python -m hlsforge_transcoder --settings-json '{...}' SRC DEST``
(or ``--settings settings.json``). SRC and DEST are paths or ``s3://bucket/key`` URIs (S3 is
reached with ``HLSFORGE_S3_*`` and the AWS default credential chain).

stdout carries JSON lines only (``probed``, ``planned``, ``progress``..., then ``done`` or
``error``); the operator follows them from the pod log. The exit status is an ``ExitCode``.
SIGTERM (pod deletion, eviction) stops ffmpeg, removes the attempt's work directory and exits
``KILLED`` so the Job's failure policy can tell it from a real failure.

The whole run is under one wall-clock deadline (``--deadline-seconds``, default
``Limits.run_deadline_s``), Python steps included (``run_deadline``): past it the run is
stopped and exits ``STALLED`` with reason ``RunDeadline``.

A failure is also written to the container's termination log (``/dev/termination-log``, when
Kubernetes mounts it), so the operator reads the reason from the pod's status without logs.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from hlsforge_api.errors import Killed, TranscodeError, UsageError
from hlsforge_api.events import Done, Error, Event, encode
from hlsforge_api.exitcodes import ExitCode
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import DEFAULT_LIMITS, runtime_limits
from hlsforge_output.manifest import outputs
from hlsforge_transcoder.dispatch import run_job
from hlsforge_transcoder.run import Result
from hlsforge_transcoder.run_deadline import MAX_DEADLINE_S, supervise


def emit(event: Event) -> None:
    sys.stdout.write(encode(event))
    sys.stdout.flush()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Killed("Terminated", f"received {signal.Signals(signum).name}")


TERMINATION_LOG = Path("/dev/termination-log")


def load_settings(path: Path | None, inline: str | None = None) -> EncodingSettings:
    try:
        if inline is not None:
            return EncodingSettings.model_validate_json(inline)
        if path is None:
            return EncodingSettings()
        return EncodingSettings.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise UsageError("SettingsUnreadable", f"cannot read {path}: {exc}") from None
    except ValidationError as exc:
        raise UsageError("SettingsInvalid", f"invalid settings: {exc}") from None


def write_termination_log(event: Error, path: Path = TERMINATION_LOG) -> None:
    """Best effort: only where Kubernetes mounted the file; never hides the real error."""
    if not path.exists():
        return
    with contextlib.suppress(OSError):
        path.write_text(encode(event)[:4096])


def done_event(result: Result) -> Done:
    return Done(
        committed=result.committed,
        outputs=outputs(result.manifest, str(result.dest)),
        notes=result.manifest.get("notes", []),
        timings=result.timings,
    )


def report(exc: TranscodeError) -> None:
    event = exc.to_event()
    emit(event)
    write_termination_log(event)


def deadline_seconds(text: str) -> float:
    """``--deadline-seconds``: a number in (0, MAX_DEADLINE_S]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_DEADLINE_S:
        raise argparse.ArgumentTypeError(f"must be in (0, {MAX_DEADLINE_S:g}]")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hlsforge_transcoder", description=__doc__)
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--settings", type=Path, help="file with EncodingSettings as JSON")
    given.add_argument("--settings-json", help="EncodingSettings as inline JSON (camelCase)")
    parser.add_argument("src", help="source file, or s3://bucket/key")
    parser.add_argument("dest", help="output directory, or s3://bucket/prefix")
    parser.add_argument(
        "--deadline-seconds",
        type=deadline_seconds,
        default=DEFAULT_LIMITS.run_deadline_s,
        help="wall-clock limit on the whole run; then it exits 7 (Stalled, RunDeadline)",
    )
    args = parser.parse_args(argv)
    return supervise(lambda: run(args), args.deadline_seconds, report=report)


def run(args: argparse.Namespace) -> int:
    """The work itself (in the supervised child): one job, its events, its exit code."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        settings = load_settings(args.settings, args.settings_json)
        result = run_job(args.src, args.dest, settings, limits=runtime_limits(), emit=emit)
    except TranscodeError as exc:
        report(exc)
        return int(exc.exit_code)
    emit(done_event(result))
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
