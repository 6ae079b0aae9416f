"""``Range: bytes=...`` for files streamed from S3. Pure.

One range is honoured (``a-b``, ``a-``, ``-n``), which is all players and browsers send; a
list of ranges, another unit or a malformed header is ignored and the whole file is sent, as
RFC 9110 (14.2) allows. The store resolves the range against the object's size, so nothing
here needs the size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class ByteRange:
    start: int | None
    """First byte; None for a suffix range (the last ``end`` bytes)."""
    end: int | None
    """Last byte, inclusive; None for "to the end"."""

    def header(self) -> str:
        """The same range as a ``Range`` header value (what S3 is sent)."""
        first = "" if self.start is None else str(self.start)
        last = "" if self.end is None else str(self.end)
        return f"bytes={first}-{last}"


def parse(header: str | None) -> ByteRange | None:
    """The one range asked for, or None (send the whole file)."""
    if not header:
        return None
    found = _SINGLE.match(header.strip().replace(" ", ""))
    if found is None:
        return None
    first, last = found.group(1), found.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        return ByteRange(None, suffix) if suffix > 0 else None
    start = int(first)
    end = int(last) if last else None
    if end is not None and end < start:
        return None
    return ByteRange(start, end)
