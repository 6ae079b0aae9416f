"""What one reconciliation decides: the status to write, at most one action, the events.

Pure values shared by the reducer (``reconcile``) and its parts (``unschedulable``); the
handlers carry them out (``actions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from hlsforge_api import conditions as cond
from hlsforge_api.v1alpha1 import ConditionStatus, TranscodeJobStatus


class Action(StrEnum):
    NONE = "None"
    CREATE_JOB = "CreateJob"
    VERIFY_OUTPUT = "VerifyOutput"
    DELETE_SOURCE = "DeleteSource"
    RELEASE_JOB = "ReleaseJob"
    """Delete the Job whose pod found no node: its slot goes back to the queue."""


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" or "Warning"
    reason: str
    message: str


@dataclass
class Outcome:
    status: TranscodeJobStatus
    action: Action = Action.NONE
    events: list[Event] = field(default_factory=list)


def set_condition(
    status: TranscodeJobStatus,
    now: datetime,
    generation: int | None,
    type_: str,
    value: ConditionStatus,
    reason: str,
    message: str,
) -> None:
    status.conditions = cond.set_condition(
        status.conditions, type_, value, reason, message, now, generation
    )
