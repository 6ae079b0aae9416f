"""Container entrypoint: ``python -m hlsforge_transcoder --settings settings.json SRC DEST``.

stdout carries JSON lines only (``probed``, ``planned``, ``progress``..., then ``done`` or
``error``); the operator follows them from the pod log. The exit status is an ``ExitCode``.
SIGTERM (pod deletion, eviction) stops ffmpeg, removes the attempt's work directory and exits
``KILLED`` so the Job's failure policy can tell it from a real failure.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError

from hlsforge_api.exitcodes import ExitCode
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_transcoder.errors import Killed, TranscodeError, UsageError
from hlsforge_transcoder.manifest import outputs
from hlsforge_transcoder.progress import encode_line
from hlsforge_transcoder.run import transcode


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(encode_line(event))
    sys.stdout.flush()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Killed("Terminated", f"received {signal.Signals(signum).name}")


def load_settings(path: Path | None) -> EncodingSettings:
    if path is None:
        return EncodingSettings()
    try:
        return EncodingSettings.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise UsageError("SettingsUnreadable", f"cannot read {path}: {exc}") from None
    except ValidationError as exc:
        raise UsageError("SettingsInvalid", f"invalid settings: {exc}") from None


def done_event(dest: Path, manifest: dict[str, Any], committed: bool) -> dict[str, Any]:
    return {
        "event": "done",
        "exit_code": 0,
        "committed": committed,
        "outputs": outputs(manifest, str(dest)).to_wire(),
        "notes": manifest.get("notes", []),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hlsforge_transcoder", description=__doc__)
    parser.add_argument("--settings", type=Path, help="EncodingSettings as JSON (camelCase)")
    parser.add_argument("src", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        settings = load_settings(args.settings)
        result = transcode(args.src, args.dest, settings, emit=emit)
    except TranscodeError as exc:
        emit(exc.to_event())
        return int(exc.exit_code)
    emit(done_event(result.dest, result.manifest, result.committed))
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
