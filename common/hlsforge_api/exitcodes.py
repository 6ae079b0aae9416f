"""Exit codes of the transcoder: the contract between the transcoder pod and the operator.

The operator builds the Job's ``podFailurePolicy`` from these: a code whose ``retryable`` is
False fails the Job at once (``FailJob``); any other non-zero exit counts against
``backoffLimit``. Signals are reported by Kubernetes as 128 + signal (137 for SIGKILL, which
is also what an OOM kill looks like); the transcoder maps a child killed by a signal to
``KILLED`` so a wrapper never exits with an ambiguous code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """The output is committed and verified."""
    USAGE = 2
    """Bad arguments or configuration given to the transcoder (a bug upstream): not retried."""
    INVALID_INPUT = 3
    """The source is not a video we accept (format, streams, size, duration): not retried."""
    STORAGE = 4
    """Reading the source or writing the output failed (I/O, storage unavailable): retried."""
    ENCODE_FAILED = 5
    """ffmpeg failed on input that probed fine (decoder error, resource exhaustion): retried."""
    VERIFY_FAILED = 6
    """The written output did not verify (missing segment, wrong duration): retried."""
    STALLED = 7
    """No progress for too long (ffmpeg's watchdog), or the whole run went past its deadline
    (reason ``RunDeadline``: the entrypoint's watchdog, Python steps included): retried."""
    KILLED = 8
    """ffmpeg was killed by a signal (e.g. the OOM killer): retried."""

    @property
    def retryable(self) -> bool:
        return self not in (ExitCode.OK, ExitCode.USAGE, ExitCode.INVALID_INPUT)

    @property
    def reason(self) -> str:
        """The CamelCase reason the operator records in conditions and Events."""
        return _REASONS[self]


_REASONS = {
    ExitCode.OK: "Succeeded",
    ExitCode.USAGE: "InvalidConfiguration",
    ExitCode.INVALID_INPUT: "InvalidInput",
    ExitCode.STORAGE: "StorageError",
    ExitCode.ENCODE_FAILED: "EncodeFailed",
    ExitCode.VERIFY_FAILED: "VerifyFailed",
    ExitCode.STALLED: "Stalled",
    ExitCode.KILLED: "Killed",
}

NON_RETRYABLE = tuple(code for code in ExitCode if code is not ExitCode.OK and not code.retryable)
