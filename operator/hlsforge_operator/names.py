"""Deterministic names and labels of what the operator creates for a TranscodeJob.

Deterministic names make re-running a handler after a crash harmless: creating an object
that already exists is answered 409, which the operator treats as success.
"""

from __future__ import annotations

from hlsforge_api.v1alpha1 import MAX_NAME_LENGTH

MANAGED_BY = "hlsforge-operator"
LABEL_JOB = "hlsforge.io/transcodejob"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
CONTAINER = "transcoder"
FINALIZER = "hlsforge.io/cleanup"


def job_name(transcodejob: str) -> str:
    """The batch/v1 Job of a TranscodeJob (<= 63 characters, as the CRD bounds the name)."""
    if len(transcodejob) > MAX_NAME_LENGTH:
        raise ValueError(f"TranscodeJob name longer than {MAX_NAME_LENGTH}: {transcodejob!r}")
    return f"{transcodejob}-transcode"


def labels(transcodejob: str) -> dict[str, str]:
    return {
        LABEL_JOB: transcodejob,
        LABEL_COMPONENT: "transcoder",
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_PART_OF: "hlsforge",
    }
