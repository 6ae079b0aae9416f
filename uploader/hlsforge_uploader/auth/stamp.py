"""What the uploader writes on a TranscodeJob for its creator: the token's name (label
``hlsforge.io/token``, read by visibility) and the source's size (annotation
``hlsforge.io/source-bytes``, read by the hourly byte quota)."""

from __future__ import annotations

from hlsforge_uploader.auth.callers import OWNER_LABEL
from hlsforge_uploader.auth.quotas import SOURCE_BYTES_ANNOTATION


def stamp(
    labels: dict[str, str] | None,
    annotations: dict[str, str] | None,
    owner: str | None,
    source_bytes: int | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """``labels`` and ``annotations`` plus the creator's name and the source's size, when
    known; the inputs are not changed."""
    labels, annotations = dict(labels or {}), dict(annotations or {})
    if owner is not None:
        labels[OWNER_LABEL] = owner
    if source_bytes is not None:
        annotations[SOURCE_BYTES_ANNOTATION] = str(max(0, source_bytes))
    return labels, annotations
