"""TranscodeJobs as clients see them: the status, read through the status model, plus the URLs
to follow and play the job. Pure functions, no Kubernetes calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hlsforge_api.v1alpha1 import TranscodeJobStatus
from hlsforge_uploader.models import JobView

_FROM_STATUS = set(JobView.model_fields) & set(TranscodeJobStatus.model_fields)
"""The view's fields that are the status's own (phase, progress, fps ... sourceDeleted)."""


@dataclass(frozen=True)
class Urls:
    """Where a job is followed; ``base`` is the service's external URL without a slash."""

    base: str

    def status(self, job_id: str) -> str:
        return f"{self.base}/v1/jobs/{job_id}"

    def events(self, job_id: str) -> str:
        ws = "wss://" + self.base[8:] if self.base.startswith("https://") else None
        ws = ws or ("ws://" + self.base[7:] if self.base.startswith("http://") else self.base)
        return f"{ws}/v1/jobs/{job_id}/events"

    def playback(self, job_id: str) -> str:
        return f"{self.base}/v1/jobs/{job_id}/hls/master.m3u8"


def view(obj: dict[str, Any], urls: Urls) -> JobView:
    """A TranscodeJob (as the API returns it) as clients see it. Tolerates a missing status;
    a status the API server accepted always validates (the CRD is generated from the model)."""
    meta = obj.get("metadata") or {}
    status = TranscodeJobStatus.model_validate(obj.get("status") or {})
    outputs = status.outputs
    name = str(meta.get("name", ""))
    return JobView.model_validate(
        {
            **status.model_dump(include=_FROM_STATUS),
            "id": name,
            "created_at": meta.get("creationTimestamp"),
            "renditions": outputs.renditions if outputs is not None else [],
            "duration_seconds": outputs.duration_seconds if outputs is not None else None,
            "resource_version": meta.get("resourceVersion"),
            "deleting": bool(meta.get("deletionTimestamp")),
            "status_url": urls.status(name),
            "events_url": urls.events(name),
            "playback_url": urls.playback(name),
        }
    )
