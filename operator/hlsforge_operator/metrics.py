"""Prometheus metrics of the operator, served on ``/metrics``.

Gauges of jobs by phase and of the queue are computed at scrape time from the phases the
operator last saw, so they are right after a restart without any bookkeeping of transitions.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hlsforge_api.v1alpha1 import Phase

REGISTRY = CollectorRegistry()

TRANSCODE_SECONDS = Histogram(
    "hlsforge_transcode_duration_seconds",
    "Wall time from the Job's creation to the verified output.",
    buckets=(5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
    registry=REGISTRY,
)
REALTIME_FACTOR = Histogram(
    "hlsforge_transcode_realtime_factor",
    "Media seconds transcoded per wall-clock second (above 1 is faster than real time).",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20),
    registry=REGISTRY,
)
FAILURES = Counter(
    "hlsforge_transcode_failures",
    "TranscodeJobs that ended Failed, by reason.",
    ["reason"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "hlsforge_reconcile_errors",
    "Reconciliations that raised (they are retried).",
    ["stage"],
    registry=REGISTRY,
)


class PhaseCollector(Collector):
    """Counts TranscodeJobs by phase from a live mapping (key -> phase)."""

    def __init__(self, phases: Mapping[tuple[str, str], Phase]) -> None:
        self.phases = phases

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tally = Tally(self.phases.values())
        by_phase = GaugeMetricFamily(
            "hlsforge_transcodejobs", "TranscodeJobs by phase.", labels=["phase"]
        )
        for phase in Phase:
            by_phase.add_metric([phase.value], tally.get(phase, 0))
        yield by_phase
        yield GaugeMetricFamily(
            "hlsforge_queue_depth",
            "TranscodeJobs waiting for a free transcode slot.",
            value=tally.get(Phase.QUEUED, 0) + tally.get(Phase.PENDING, 0),
        )


def serve(phases: Mapping[tuple[str, str], Phase], address: str, port: int) -> None:
    REGISTRY.register(PhaseCollector(phases))
    if port:
        start_http_server(port, addr=address, registry=REGISTRY)
