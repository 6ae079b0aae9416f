"""Failures of the transcoder, each tied to the exit code the operator acts on.

Every error carries a machine-readable ``reason`` (CamelCase, finer than the exit code, e.g.
``NoVideoStream``) and a human sentence. The exit code alone decides retry or not.
"""

from __future__ import annotations

from typing import ClassVar

from hlsforge_api.events import Error
from hlsforge_api.exitcodes import ExitCode


class TranscodeError(Exception):
    """Base of every failure the engine reports; ``exit_code`` says retry or not."""

    exit_code: ClassVar[ExitCode] = ExitCode.ENCODE_FAILED

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def to_event(self) -> Error:
        """The ``error`` event the engine prints (and writes to its termination log)."""
        return Error(
            exit_code=self.exit_code,
            category=self.exit_code.reason,
            reason=self.reason,
            message=self.message,
        )


class UsageError(TranscodeError):
    exit_code = ExitCode.USAGE


class InvalidInput(TranscodeError):  # noqa: N818 - named after the ExitCode
    """The source is not something we accept; retrying cannot help."""

    exit_code = ExitCode.INVALID_INPUT


class StorageError(TranscodeError):
    """Media cannot be read, written, published or deleted: the one error of every store
    (``hlsforge_storage``), in the engine, the operator and the uploader alike. ``final`` marks
    what no retry can help (a source that is absent or can never be read); ``transient`` what
    the store could not answer for now (unreachable, 5xx, throttled): asking again later can
    succeed, so it is no verdict on the media."""

    exit_code = ExitCode.STORAGE

    def __init__(
        self, reason: str, message: str, *, final: bool = False, transient: bool = False
    ) -> None:
        super().__init__(reason, message)
        self.final = final
        self.transient = transient


class EncodeFailed(TranscodeError):  # noqa: N818 - named after the ExitCode
    exit_code = ExitCode.ENCODE_FAILED


class VerifyFailed(TranscodeError):  # noqa: N818 - named after the ExitCode
    exit_code = ExitCode.VERIFY_FAILED


class Stalled(TranscodeError):  # noqa: N818 - named after the ExitCode
    exit_code = ExitCode.STALLED


class Killed(TranscodeError):  # noqa: N818 - named after the ExitCode
    exit_code = ExitCode.KILLED
