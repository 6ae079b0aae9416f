"""The messages between the engine (``RemoteBroker``) and the publisher, and their framing.

One connection carries one request and one reply. A frame is a 4-byte big-endian length and
that many bytes of JSON; the length is checked against a cap before anything is allocated, and
every field is bounded by its model. The publisher treats each request as hostile (it may come
from a taken-over ffmpeg running as the engine's uid): the models only give it shape; what it
may name is checked by the publisher's grant.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from hlsforge_api.errors import (
    EncodeFailed,
    InvalidInput,
    Killed,
    Stalled,
    StorageError,
    TranscodeError,
    UsageError,
    VerifyFailed,
)
from hlsforge_media.sniff import SNIFF_BYTES
from hlsforge_media.unix_socket import ProtocolError, frame, parse, recv_frame

__all__ = ["ProtocolError", "frame", "recv_frame"]  # the framing, re-exported for the two ends

MAX_REQUEST_BYTES = 16 * 1024
MAX_REPLY_BYTES = 32 * 1024**2
"""A reply may carry a manifest (bounded at 16 MiB by ``tree.MAX_TEXT``) as JSON."""

S3Text = Annotated[str, Field(min_length=6, max_length=1100, pattern=r"^s3://")]
AbsPath = Annotated[str, Field(min_length=2, max_length=4096, pattern=r"^/")]
Text = Annotated[str, Field(max_length=4096)]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceRequest(_Message):
    """The source as ffmpeg will read it. ``folder``: where a download may land (the engine's
    scratch folder, shared with the publisher by group)."""

    op: Literal["source"] = "source"
    source: S3Text
    folder: AbsPath


class CommittedRequest(_Message):
    op: Literal["committed"] = "committed"
    output: S3Text


class SweepRequest(_Message):
    op: Literal["sweep"] = "sweep"
    output: S3Text
    max_age_seconds: float = Field(ge=0, le=366 * 86400)


class PublishRequest(_Message):
    """Publish the finished, verified folder ``folder`` (below the shared scratch mount)."""

    op: Literal["publish"] = "publish"
    folder: AbsPath
    output: S3Text


Request = Annotated[
    SourceRequest | CommittedRequest | SweepRequest | PublishRequest, Field(discriminator="op")
]


class SourceReply(_Message):
    """A presigned GET URL (``url``, with the object's first bytes for sniffing) or the path of
    the downloaded file (``path``)."""

    kind: Literal["source"] = "source"
    name: Annotated[str, Field(max_length=1100)]
    url: Annotated[str, Field(max_length=8192, pattern=r"^https?://")] | None = None
    head_b64: Annotated[str, Field(max_length=4 * (SNIFF_BYTES // 3 + 1))] = ""
    path: AbsPath | None = None

    def head(self) -> bytes:
        return base64.b64decode(self.head_b64)


class OutputReply(_Message):
    """The committed output (``found`` False: nothing committed yet)."""

    kind: Literal["output"] = "output"
    found: bool
    root: Annotated[str, Field(max_length=1200)] = ""
    manifest: dict[str, Any] = Field(default_factory=dict)
    committed: bool = False


class SweptReply(_Message):
    kind: Literal["swept"] = "swept"
    versions: list[Annotated[str, Field(max_length=256)]] = Field(max_length=100_000)


class ErrorReply(_Message):
    """A failure, with the exit code the engine exits with (today's semantics)."""

    kind: Literal["error"] = "error"
    exit_code: int = Field(ge=1, le=255)
    reason: Annotated[str, Field(min_length=1, max_length=128)]
    message: Text

    @classmethod
    def of(cls, exc: TranscodeError) -> ErrorReply:
        return cls(exit_code=int(exc.exit_code), reason=exc.reason, message=exc.message[:4096])

    def error(self) -> TranscodeError:
        kind = _ERRORS.get(self.exit_code, StorageError)
        return kind(self.reason, self.message)


Reply = Annotated[SourceReply | OutputReply | SweptReply | ErrorReply, Field(discriminator="kind")]

_KINDS = (UsageError, InvalidInput, StorageError, EncodeFailed, VerifyFailed, Stalled, Killed)
_ERRORS: dict[int, type[TranscodeError]] = {int(kind.exit_code): kind for kind in _KINDS}

_REQUESTS: TypeAdapter[Request] = TypeAdapter(Request)
_REPLIES: TypeAdapter[Reply] = TypeAdapter(Reply)


def parse_request(body: bytes) -> Request:
    return parse(_REQUESTS, body, "publisher request")


def parse_reply(body: bytes) -> Reply:
    return parse(_REPLIES, body, "publisher reply")
