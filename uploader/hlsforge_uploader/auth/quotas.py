"""Per-token quotas, the pure part: the limits, what a TranscodeJob says it spent, and when a
refused request may try again (the ``Retry-After`` of a 429).

Three limits per token name, each 0 for none:

- uploads in flight at once (streamed bodies being received);
- bytes per hour: the source bytes of the token's TranscodeJobs created in the last hour (the
  annotation ``hlsforge.io/source-bytes`` the uploader writes on each job), plus the declared
  bytes of its uploads in flight, plus the one asking;
- outstanding direct-upload tickets (handed out, not completed, not expired).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hlsforge_api.v1alpha1 import GROUP

WINDOW_SECONDS = 3600
SOURCE_BYTES_ANNOTATION = f"{GROUP}/source-bytes"
"""Annotation on a TranscodeJob created over HTTP: the size of its source, in bytes."""
MAX_SOURCE_BYTES = 1 << 50


class TokenQuotas(BaseModel):
    """What each token may spend (``HLSFORGE_QUOTAS__*``); 0 turns a limit off."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    concurrent_uploads: int = Field(default=0, ge=0, le=10_000)
    """Streamed uploads one token may have in flight at once, per uploader replica."""
    bytes_per_hour: int = Field(default=0, ge=0, le=MAX_SOURCE_BYTES)
    """Source bytes one token may upload in any hour (streamed and direct together)."""
    direct_tickets: int = Field(default=0, ge=0, le=100_000)
    """Direct-upload tickets one token may hold at once (handed out, not yet completed,
    not expired), per uploader replica."""
    busy_retry_seconds: int = Field(default=5, ge=1, le=3600)
    """``Retry-After`` when the concurrent-upload limit is reached (no end time is known)."""


@dataclass(frozen=True, order=True)
class Spent:
    """One upload counted against a token's hourly bytes."""

    at: float
    """When it was accepted (seconds since the epoch)."""
    size: int


def spent_of(obj: dict[str, Any]) -> Spent | None:
    """What a TranscodeJob spent: its creation time and source bytes (None: not recorded, as on
    a job made with kubectl, or an annotation out of bounds)."""
    meta = obj.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(SOURCE_BYTES_ANNOTATION)
    created = meta.get("creationTimestamp")
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 16 or not created:
        return None
    size = int(raw)
    try:
        at = datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return Spent(at, size) if size <= MAX_SOURCE_BYTES else None


def bytes_retry_after(spent: Iterable[Spent], limit: int, wanted: int, now: float) -> int | None:
    """None when ``wanted`` more bytes fit in the hour's ``limit`` now; otherwise the seconds
    until enough of what was spent leaves the window. ``wanted`` must be at most ``limit``."""
    recent = sorted(s for s in spent if now - s.at < WINDOW_SECONDS)
    used = sum(s.size for s in recent)
    if used + wanted <= limit:
        return None
    for s in recent:
        used -= s.size
        if used + wanted <= limit:
            return max(1, math.ceil(s.at + WINDOW_SECONDS - now))
    return WINDOW_SECONDS


def tickets_retry_after(expiries: Iterable[float], limit: int, now: float) -> int | None:
    """None when one more ticket fits under ``limit``; otherwise the seconds until enough of
    the live tickets (by their expiry times) have expired."""
    live = sorted(e for e in expiries if e > now)
    if len(live) < limit:
        return None
    return max(1, math.ceil(live[len(live) - limit] - now))
