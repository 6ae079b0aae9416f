"""TranscodeJobs as clients see them: the status plus the URLs to follow and play the job.
Pure functions, no Kubernetes calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hlsforge_uploader.models import JobView


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
    """A TranscodeJob (as the API returns it) as clients see it. Tolerates a missing status."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    outputs = status.get("outputs") or {}
    name = str(meta.get("name", ""))
    return JobView.model_validate(
        {
            "id": name,
            "phase": status.get("phase", "Pending"),
            "progress": status.get("progress", 0),
            "fps": status.get("fps"),
            "speed": status.get("speed"),
            "eta": status.get("eta"),
            "attempts": status.get("attempts", 0),
            "message": status.get("message"),
            "reason": status.get("reason"),
            "createdAt": meta.get("creationTimestamp"),
            "startTime": status.get("startTime"),
            "completionTime": status.get("completionTime"),
            "sourceDeleted": status.get("sourceDeleted", False),
            "renditions": outputs.get("renditions") or [],
            "durationSeconds": outputs.get("durationSeconds"),
            "resourceVersion": meta.get("resourceVersion"),
            "deleting": bool(meta.get("deletionTimestamp")),
            "statusUrl": urls.status(name),
            "eventsUrl": urls.events(name),
            "playbackUrl": urls.playback(name),
        }
    )
