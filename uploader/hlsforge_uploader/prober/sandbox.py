"""ffprobe an untrusted upload in a confined child: the one way the uploader runs ffprobe.

A demuxer or decoder bug must find nothing worth stealing, and a hostile file must not spend
more than its share. So the ffprobe child gets:

- an empty environment (no token, no S3 key, no presigned URL in ``/proc/<pid>/environ``);
- rlimits: CPU seconds, address space, file size (0: it writes no file), open descriptors,
  no core dumps; ffprobe's own caps on top (``-max_alloc`` per allocation, the decoders'
  ``max_pixels``, one decoder thread);
- a wall-clock deadline that kills its whole process group (``proc.run_bounded``);
- the engine's allow-lists (``probe.run_probe``): ``-protocol_whitelist`` and
  ``-format_whitelist``, unchanged;
- as input either one open descriptor (volume mode: ``file:/proc/self/fd/N``, the only file of
  the volume it can reach) or one short-lived presigned URL of one object (S3 mode).

The prober container (``server``) runs this with its own uid and nothing mounted; outside a
pod (tests, ``hlsforge`` dev use) the uploader runs it in-process (``client.LocalProber``).
The rlimit table and the ffprobe options are pure; ``probe_source`` is the shell.
"""

from __future__ import annotations

import resource
import shutil
import signal
from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hlsforge_api.errors import InvalidInput, StorageError
from hlsforge_media.limits import DEFAULT_LIMITS
from hlsforge_media.media_input import MediaInput, http_input
from hlsforge_media.probe import run_probe
from hlsforge_media.proc import Completed, Confinement, ToolTimeoutError, run_bounded

MiB = 1024**2


class SandboxLimits(BaseModel):
    """What one ffprobe child may spend. Every number bounded (values.yaml ``uploader.prober``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Wall clock; then the child's process group is killed (reason ``ProbeTimeout``)."""
    cpu_seconds: int = Field(default=20, ge=1, le=600)
    """``RLIMIT_CPU``: SIGXCPU at the soft limit, SIGKILL one second later."""
    address_space_bytes: int = Field(default=2048 * MiB, ge=512 * MiB, le=64 * 1024 * MiB)
    """``RLIMIT_AS``: virtual memory of the child (at 256 MiB Debian's ffprobe cannot even map
    its shared libraries; 512 MiB probes a 4K H.264 clip)."""
    max_alloc_bytes: int = Field(default=512 * MiB, ge=16 * MiB, le=16 * 1024 * MiB)
    """ffprobe ``-max_alloc``: the largest single allocation (an 8K 4:2:0 frame is ~50 MiB)."""
    max_pixels: int = Field(default=DEFAULT_LIMITS.max_pixels, ge=16 * 16, le=16384 * 16384)
    """The decoders' ``max_pixels``: a frame above it is not even allocated."""
    open_files: int = Field(default=32, ge=8, le=1024)
    """``RLIMIT_NOFILE``: ffprobe needs its three pipes, the input, and a few for TLS."""
    max_output_bytes: int = Field(default=4 * MiB, ge=64 * 1024, le=64 * MiB)
    """ffprobe JSON larger than this is refused (``ProbeOutputTooLarge``)."""


def rlimits(limits: SandboxLimits) -> list[tuple[int, int, int]]:
    """``(resource, soft, hard)`` for the child. The CPU hard limit is one second above the
    soft one, so SIGXCPU comes first and SIGKILL follows if the child ignores it."""
    return [
        (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
        (resource.RLIMIT_AS, limits.address_space_bytes, limits.address_space_bytes),
        (resource.RLIMIT_FSIZE, 0, 0),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_CORE, 0, 0),
    ]


def ffprobe_caps(limits: SandboxLimits) -> tuple[str, ...]:
    """ffprobe's own bounds, placed before ``-i``: per-allocation cap, decoder frame size cap,
    one decoder thread (threads multiply memory and hide CPU use from the rlimit's view)."""
    return (
        *("-max_alloc", str(limits.max_alloc_bytes)),
        *("-max_pixels", str(limits.max_pixels)),
        *("-threads", "1"),
    )


SANDBOX_ENV: dict[str, str] = {}
"""The child's whole environment. ffprobe needs none (its path is resolved here)."""


def confinement(limits: SandboxLimits, pass_fds: tuple[int, ...] = ()) -> Confinement:
    table = rlimits(limits)

    def apply() -> None:  # between fork and exec: setrlimit only, nothing that locks
        for which, soft, hard in table:
            resource.setrlimit(which, (soft, hard))

    return Confinement(env=SANDBOX_ENV, pass_fds=pass_fds, before_exec=apply)


def run_confined(
    argv: list[str], limits: SandboxLimits, pass_fds: tuple[int, ...] = ()
) -> Completed:
    """Run ``argv`` under the sandbox (empty environment, rlimits, ``limits.timeout_seconds``).
    ``argv[0]`` is resolved on our ``PATH`` first, since the child has none. Raises
    ``ToolTimeoutError`` or ``OSError`` like ``proc.run_bounded``."""
    program = shutil.which(argv[0]) or argv[0]
    try:
        done = run_bounded(
            [program, *argv[1:]], limits.timeout_seconds, confinement(limits, pass_fds)
        )
    except ToolTimeoutError:
        raise ToolTimeoutError(
            f"{argv[0]} did not finish within {limits.timeout_seconds:g} s"
        ) from None
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ToolTimeoutError(f"{argv[0]} exceeded its CPU limit of {limits.cpu_seconds} s")
    if done.returncode != 0 and _LOADER_FAILED in done.stderr:
        # the sandbox is too tight to start ffprobe at all: our fault, not the file's
        raise OSError(f"{argv[0]} cannot start within the sandbox: {done.stderr.strip()}")
    return done


_LOADER_FAILED = "error while loading shared libraries"
_PIXELS_EXCEEDED = "exceeds specified max pixel count"


# -- what a probe is asked to read -----------------------------------------------------------


def fd_input(fd: int, name: str, limits: SandboxLimits) -> MediaInput:
    """One open descriptor as ffprobe's input: ``file:/proc/self/fd/N`` in the child, which
    keeps descriptor ``N`` (``pass_fds``). Only ``file`` is allowed, as for any local file."""

    def no_head() -> bytes:  # the uploader sniffed the head before asking for a probe
        raise StorageError("SourceUnreadable", "the prober does not sniff")

    return MediaInput(
        url=f"file:/proc/self/fd/{fd}",
        protocols="file",
        name=name,
        read_head=no_head,
        options=ffprobe_caps(limits),
    )


def url_input(url: str, name: str, limits: SandboxLimits) -> MediaInput:
    """A presigned ``http(s)`` URL of one object; raises ``ValueError`` for another scheme."""

    def no_head() -> bytes:
        raise StorageError("SourceUnreadable", "the prober does not sniff")

    source = http_input(url, name, no_head)
    return replace(source, options=(*source.options, *ffprobe_caps(limits)))


# -- the outcome -----------------------------------------------------------------------------


class ProbeOutcome(BaseModel):
    """What a sandboxed probe ends with: ffprobe's JSON, or the engine's refusal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["ok", "invalid", "unavailable"]
    """``ok``: ``ffprobe_json`` holds the output; ``invalid``: the media is refused (422);
    ``unavailable``: the probe could not be done (storage, transport, prober; 5xx)."""
    ffprobe_json: str | None = Field(default=None, max_length=64 * MiB)
    reason: str = Field(default="", max_length=64)
    message: str = Field(default="", max_length=2000)


def probe_source(
    source: MediaInput, limits: SandboxLimits, pass_fds: tuple[int, ...] = ()
) -> ProbeOutcome:
    """ffprobe ``source`` in the sandbox with the engine's rules (``run_probe``: allow-lists,
    error reasons, URL redaction). Never raises for a bad file; the JSON is bounded."""
    outputs: list[str] = []
    engine_limits = replace(DEFAULT_LIMITS, probe_timeout_s=limits.timeout_seconds)

    def runner(argv: list[str], _timeout: float) -> Completed:
        done = run_confined(argv, limits, pass_fds)
        if done.returncode != 0 and _PIXELS_EXCEEDED in done.stderr:
            # the decoders' cap refused a frame: the same verdict ``validate`` gives on size
            raise InvalidInput(
                "DimensionsTooLarge", f"a frame is larger than {limits.max_pixels} pixels"
            )
        outputs.append(done.stdout)
        return done

    try:
        run_probe(source, engine_limits, runner=runner)
    except InvalidInput as exc:
        return ProbeOutcome(status="invalid", reason=exc.reason, message=exc.message[:2000])
    except StorageError as exc:
        return ProbeOutcome(status="unavailable", reason=exc.reason, message=exc.message[:2000])
    text = outputs[-1]
    if len(text.encode()) > limits.max_output_bytes:
        return ProbeOutcome(
            status="invalid",
            reason="ProbeOutputTooLarge",
            message=f"ffprobe's description of the file exceeds {limits.max_output_bytes} bytes",
        )
    return ProbeOutcome(status="ok", ffprobe_json=text)
