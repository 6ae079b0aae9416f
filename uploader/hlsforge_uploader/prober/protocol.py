"""The messages between the uploader and its prober, and how they travel on the unix socket.

One connection carries one probe: the uploader sends a ``ProbeRequest`` (in volume mode with
exactly one descriptor attached, ``SCM_RIGHTS``), the prober answers one ``ProbeOutcome``
(``sandbox``) and closes. A frame is a 4-byte big-endian length and that many bytes of
JSON; both lengths are capped before anything is read or allocated.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from hlsforge_media.unix_socket import ProtocolError, frame, parse, recv_frame
from hlsforge_uploader.prober.sandbox import ProbeOutcome

__all__ = ["ProtocolError", "frame", "recv_frame"]  # the framing, re-exported for the two ends

MAX_REQUEST_BYTES = 16 * 1024
"""A request is a name and at most one presigned URL."""
MAX_REPLY_BYTES = 64 * 1024**2 + 16 * 1024
"""``SandboxLimits.max_output_bytes`` at its largest, plus the envelope."""


class ProbeRequest(BaseModel):
    """Probe one upload: the attached descriptor (``fd``) or one presigned URL (``url``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["fd", "url"]
    name: str = Field(min_length=1, max_length=256)
    """What error messages call the upload (never the URL: it is a credential)."""
    url: str | None = Field(default=None, max_length=8192, pattern=r"^https?://")

    @model_validator(mode="after")
    def _url_iff_kind_url(self) -> ProbeRequest:
        if (self.kind == "url") != (self.url is not None):
            raise ValueError("a url request carries a url, an fd request none")
        return self


_REQUEST: TypeAdapter[ProbeRequest] = TypeAdapter(ProbeRequest)
_REPLY: TypeAdapter[ProbeOutcome] = TypeAdapter(ProbeOutcome)


def parse_request(body: bytes) -> ProbeRequest:
    return parse(_REQUEST, body, "probe request")


def parse_reply(body: bytes) -> ProbeOutcome:
    return parse(_REPLY, body, "probe reply")
