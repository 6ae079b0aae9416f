"""The transcoder's event protocol: the one definition of every message it prints.

The engine (``python -m hlsforge_transcoder``, ``hlsforge transcode --json``) writes one JSON
object per line on stdout: ``probed``, ``planned``, ``progress``..., ``publishing`` (S3 outputs
only), then ``done`` or ``error``; an ``error`` is also its termination log. The operator reads
``progress`` from the pod's log and the error's ``message`` from the termination log.

The wire keys are those the engine has always printed, so older pods and operators keep
understanding each other: the events' own keys are snake_case (``exit_code``, ``out_time``),
while the nested source summary and ``Outputs`` are camelCase, as in the manifest and
``status.outputs``. Readers ignore keys they do not know (a newer engine may add some); a line
that is not one of these events is for the reader to skip (``decode`` raises).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_serializer
from pydantic.alias_generators import to_camel

from hlsforge_api.exitcodes import ExitCode
from hlsforge_api.v1alpha1 import Outputs


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class SourceVideo(_Camel):
    codec: str
    width: int
    height: int
    """Coded size, in pixels."""
    display_width: int
    display_height: int
    """As shown: pixel aspect and rotation applied."""
    fps: float
    """Average frame rate, rounded to 3 decimals."""
    variable_frame_rate: bool
    rotation: int
    """Clockwise display rotation in degrees: 0, 90, 180 or 270."""
    profile: str | None
    pix_fmt: str | None


class SourceAudio(_Camel):
    codec: str
    channels: int


class SourceSummary(_Camel):
    """What the probe found (``ProbeResult.summary()``); also the manifest's ``source``."""

    format: str
    """The demuxer the encode uses (the first name of ffprobe's ``format_name``)."""
    duration: float | None
    """Seconds."""
    video: SourceVideo | None
    audio: SourceAudio | None


class PlannedRendition(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str
    resolution: str
    """``WIDTHxHEIGHT``."""
    kbps: int
    """Target video bitrate, kbit/s."""
    copy_: bool = Field(alias="copy")
    """Packaged from the source without re-encoding."""


class _Event(BaseModel):
    # Readers ignore what they do not know: a newer engine may add keys.
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class Probed(_Event):
    """The source passed the sniff, the probe and the limits."""

    event: Literal["probed"] = "probed"
    source: SourceSummary


class Planned(_Event):
    """The ladder the encode will produce."""

    event: Literal["planned"] = "planned"
    renditions: list[PlannedRendition]
    fps: float
    """Output frame rate, rounded to 3 decimals."""
    notes: list[str] = Field(default_factory=list)
    """Decisions a user may want to know about (dropped rungs, why not copied)."""


class Progress(_Event):
    """One ``ffmpeg -progress`` block. ``percent`` is ``out_time`` over the probed duration and
    never decreases; the engine reports 100 only when the source was read to its end."""

    event: Literal["progress"] = "progress"
    percent: float
    out_time: float = 0.0
    """Seconds of media written (the furthest output stream)."""
    fps: float | None = None
    """Frames encoded per wall second."""
    speed: float | None = None
    """Multiple of real time."""
    eta: float | None = None
    """Wall seconds left at the current speed; 0 at the end."""
    frame: int | None = None


class Publishing(_Event):
    """The verified scratch output is being uploaded to an S3 destination."""

    event: Literal["publishing"] = "publishing"
    destination: str
    """The ``s3://bucket/prefix`` the output is committed under."""


class Done(_Event):
    """Success: the output is committed and verified (or an identical one already was)."""

    event: Literal["done"] = "done"
    exit_code: Literal[0] = 0
    committed: bool
    """False when a verified output was already at the destination; nothing was written."""
    outputs: Outputs
    """Ready for ``status.outputs``; for S3 they name the committed version."""
    notes: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    """Wall seconds: ``inspect``, ``encode``, ``finalize``, ``total``; empty when nothing was
    encoded."""

    @field_serializer("outputs")
    def _outputs(self, outputs: Outputs) -> dict[str, Any]:
        return outputs.to_wire()  # as status.outputs: unset optionals left out


class Error(_Event):
    """A failure; the exit code alone decides whether the Job retries (``ExitCode``)."""

    event: Literal["error"] = "error"
    exit_code: ExitCode
    category: str
    """``ExitCode.reason``: the CamelCase reason the operator records."""
    reason: str
    """Finer than the exit code, e.g. ``NoVideoStream`` (docs/transcoder.md lists them)."""
    message: str
    """A human sentence."""


Event = Annotated[
    Probed | Planned | Progress | Publishing | Done | Error, Field(discriminator="event")
]
"""Any event of the engine, told apart by its ``event`` key."""

EVENTS: TypeAdapter[Event] = TypeAdapter(Event)

Emit = Callable[[Event], None]
"""Where the engine sends its events (stdout in the entrypoint, a progress bar in the CLI)."""


def ignore(_event: Event) -> None:
    """The ``Emit`` of callers that do not listen."""


def encode(event: Event) -> str:
    """One JSON line: compact, UTF-8 (not ASCII-escaped), newline-terminated."""
    return event.model_dump_json(by_alias=True) + "\n"


def decode(line: str | bytes) -> Event:
    """Validate one line; raises ``pydantic.ValidationError`` (a ``ValueError``) for anything
    that is not an event: garbled JSON, an unknown ``event``, a missing or mistyped key."""
    return EVENTS.validate_json(line)
