"""A streaming ``multipart/form-data`` reader: file bytes flow through, fields stay small.

Starlette's form parsing (``UploadFile``) reads the whole body and spools file parts before
the endpoint runs; this wraps python-multipart's low-level parser instead, so the route sees
the file part's bytes as they arrive and can cap, sniff and store them at once.
Exactly one file part (field ``file``) is accepted; everything else a client controls is
bounded before it is kept: each text field, the number of parts and the text of all fields
together (here), each part's header count and header line size (python-multipart's own caps,
8 headers of at most 4 KiB). Without the count and total caps one body of many small fields
grew the uploader's memory until it was OOM-killed.
Pure (bytes in, events out): unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from hlsforge_uploader.errors import BadRequest, TooLarge

FILE_FIELD = "file"
MAX_PARTS = 16
"""Parts in one form: the file, the options, and room for a client's extra fields."""


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or None if it is not one."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary")
    return boundary


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    is_file: bool = False
    value: bytearray = field(default_factory=bytearray)


class MultipartReader:
    """Feed body chunks; each ``feed`` returns the file part's bytes found in that chunk."""

    def __init__(
        self,
        boundary: bytes,
        max_field_bytes: int = 64 * 1024,
        max_fields_bytes: int = 256 * 1024,
        on_field: Callable[[str, str], None] | None = None,
    ) -> None:
        self.max_field_bytes = max_field_bytes
        self.on_field = on_field
        """Called with each text field as soon as it ends (before any later part is read);
        what it raises ends the body, so a field that precedes the file can refuse the upload
        before a byte of the file is stored."""
        self.max_fields_bytes = max_fields_bytes
        """All text fields together (the file excluded)."""
        self.fields: dict[str, str] = {}
        self._parts = 0
        self._field_bytes = 0
        self.filename_seen = False
        self.done = False
        self._files = 0
        self._out: list[bytes] = []
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_header_field": self._hfield,
                "on_header_value": self._hvalue,
                "on_header_end": self._hend,
                "on_headers_finished": self._headers_done,
                "on_end": self._end,
            },
        )

    def feed(self, chunk: bytes) -> list[bytes]:
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise BadRequest(f"malformed multipart body: {exc}") from None
        out, self._out = self._out, []
        return out

    def finish(self) -> None:
        """The body ended: it must have been a complete form with one file part."""
        if not self.done:
            raise BadRequest("the multipart body ended before its closing boundary")
        if self._files != 1:
            raise BadRequest(f"expected exactly one file part named {FILE_FIELD!r}")

    # python-multipart callbacks
    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise BadRequest(f"a form may have at most {MAX_PARTS} parts")
        self._part = _Part()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _hend(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._part.headers[name] = self._header_value.decode("latin-1").strip()
        self._header_field.clear()
        self._header_value.clear()

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._part.headers.get("content-disposition", ""))
        self._part.name = params.get(b"name", b"").decode("utf-8", "replace")
        # The client's filename is only a hint that this part is the file: it is never used.
        self._part.is_file = b"filename" in params or self._part.name == FILE_FIELD
        if self._part.is_file:
            if self._part.name != FILE_FIELD:
                raise BadRequest(f"the file part must be named {FILE_FIELD!r}")
            self._files += 1
            if self._files > 1:
                raise BadRequest("only one file part is accepted")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.is_file:
            self._out.append(bytes(data[start:end]))
            return
        self._part.value += data[start:end]
        self._field_bytes += end - start
        if len(self._part.value) > self.max_field_bytes:
            raise TooLarge(f"form field {self._part.name!r} exceeds {self.max_field_bytes} bytes")
        if self._field_bytes > self.max_fields_bytes:
            raise TooLarge(f"the form's text fields exceed {self.max_fields_bytes} bytes")

    def _part_end(self) -> None:
        if not self._part.is_file:
            value = self._part.value.decode("utf-8", "replace")
            self.fields[self._part.name] = value
            if self.on_field is not None:
                self.on_field(self._part.name, value)

    def _end(self) -> None:
        self.done = True
