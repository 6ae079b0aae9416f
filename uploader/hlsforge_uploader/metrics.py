"""Prometheus metrics of the uploader, in a registry per app (tests build several apps)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.upload_bytes = Counter(
            "hlsforge_upload_bytes", "Bytes received in upload bodies", registry=r
        )
        self.upload_duration = Histogram(
            "hlsforge_upload_duration_seconds",
            "Time from the first body byte to the job's creation (accepted uploads)",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.uploads = Counter(
            "hlsforge_uploads", "Uploads that created (or replayed) a job", ["result"], registry=r
        )
        self.rejections = Counter(
            "hlsforge_upload_rejections", "Refused uploads by reason", ["reason"], registry=r
        )
        self.websocket_clients = Gauge(
            "hlsforge_websocket_clients", "Connected event-stream clients", registry=r
        )
        self.watch_events = Counter(
            "hlsforge_watch_events", "TranscodeJob watch events received", ["type"], registry=r
        )
