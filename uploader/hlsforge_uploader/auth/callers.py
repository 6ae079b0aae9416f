"""The caller a bearer token stands for, and which TranscodeJobs that caller sees.

Every token has a name (a label value). A TranscodeJob created over HTTP carries its creator's
name as the label ``hlsforge.io/token``; a caller sees, plays and deletes only the jobs with its
own name, and an admin (a name listed in ``HLSFORGE_ADMINS``) sees every job, including those
created with kubectl (no label). A job the caller may not see is answered exactly as a job that
does not exist (404), so names and ids of other callers never leak.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hlsforge_api.v1alpha1 import GROUP

OWNER_LABEL = f"{GROUP}/token"
"""Label on a TranscodeJob created over HTTP: the name of the token that created it."""
DEFAULT_NAME = "default"
"""The name of a token given without one: a bare ``HLSFORGE_TOKENS`` entry, the lines of
``HLSFORGE_TOKEN_FILE`` and the key ``token`` of a token directory (the chart's generated
token). It is an admin unless ``HLSFORGE_ADMINS`` says otherwise, as every token was before
tokens had names."""
NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
"""A token name is used as a label value: at most 63 characters of this shape."""


def valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name))


@dataclass(frozen=True)
class Caller:
    """Who a request comes from. Holds the token's name, never the token."""

    name: str
    admin: bool = False

    def owns(self, obj: dict[str, Any]) -> bool:
        """Whether this caller sees (gets, plays, follows, deletes) the TranscodeJob ``obj``."""
        return self.admin or owner_of(obj) == self.name

    @property
    def selector(self) -> str | None:
        """The label selector of this caller's jobs (None: an admin lists every job)."""
        return None if self.admin else f"{OWNER_LABEL}={self.name}"


def owner_of(obj: dict[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(OWNER_LABEL)
    return value if isinstance(value, str) else None


def resolve(
    presented: str | None, entries: Sequence[tuple[str, str]], admins: Iterable[str]
) -> Caller | None:
    """The caller whose token is ``presented``, or None.

    Every entry is compared, in constant time each, whatever matched before, so the time taken
    does not tell which entry (or how much of one) matched. When one token is listed under two
    names, the first name in ``entries`` order wins (sources are read in a fixed order).
    """
    if not presented:
        return None
    given = presented.encode()
    found: str | None = None
    for name, token in entries:
        if hmac.compare_digest(given, token.encode()) and found is None:
            found = name
    if found is None:
        return None
    return Caller(found, found in set(admins))
