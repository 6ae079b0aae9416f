"""Status lag with many transcodes running at once (the ``--concurrent`` mode of
``operator_bench.py``): how long after a pod prints progress, or ends, the TranscodeJob's
status shows it.

A watch on the TranscodeJobs records when each status value arrived (this host's clock);
afterwards each pod's log is read with the kubelet's timestamps (the same host's clock), and
every progress line is matched to the first status that shows that progress or more.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import watch
from tests.integration.harness import make_clip, wait_for
from tests.integration.operator_env import Api

from hlsforge_operator import names
from hlsforge_operator.state import progress_from_line

# Cheap pods that run long: one small rendition, a CPU limit far below a core, so 16 of them
# fit on a 2-CPU node and each keeps its log stream open for a minute or more.
POD_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
    "limits": {"cpu": "100m", "memory": "512Mi", "ephemeral-storage": "1Gi"},
}


@dataclass
class StatusWatch:
    """Every status seen per TranscodeJob: (wall time, progress, phase)."""

    api: Api
    seen: dict[str, list[tuple[float, float, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            stream = watch.Watch()  # type: ignore[no-untyped-call]
            for event in stream.stream(  # type: ignore[no-untyped-call]
                self.api.custom.list_namespaced_custom_object,
                "hlsforge.io",
                "v1alpha1",
                self.api.namespace,
                "transcodejobs",
                timeout_seconds=5,
            ):
                obj: dict[str, Any] = event["object"]
                status = obj.get("status") or {}
                self.seen[obj["metadata"]["name"]].append(
                    (time.time(), float(status.get("progress") or 0), status.get("phase", ""))
                )

    def first(self, name: str, after: float, test: Any) -> float | None:
        return next((t for t, p, ph in self.seen[name] if t >= after and test(p, ph)), None)


def _log_time(stamp: str) -> float:
    """RFC 3339 with nanoseconds (the kubelet's) to epoch seconds."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float(f"0.{frac or 0}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: no samples"
    return (
        f"{label}: p50 {statistics.median(values):.2f}s  p95 {_pct(values, 0.95):.2f}s  "
        f"max {max(values):.2f}s  over {len(values)} samples"
    )


def run(api: Api, media_root: Any, count: int, seconds: float) -> None:
    """``count`` transcodes at once; prints peak pods running and the lag figures."""
    watcher = StatusWatch(api)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    jobs = [f"c-{i:02d}" for i in range(count)]
    make_clip(media_root / "uploads/c-src.mp4", seconds, size="320x180", audio=False)
    for name in jobs:
        (media_root / f"uploads/{name}.mp4").write_bytes(
            (media_root / "uploads/c-src.mp4").read_bytes()
        )
    for name in jobs:
        api.create_tj(
            name,
            source=f"uploads/{name}.mp4",
            output=f"hls/{name}",
            sourcePolicy="Retain",
            renditions=[{"name": "180p", "height": 180, "videoBitrateKbps": 200}],
            thumbnails={"poster": False},
            resources=POD_RESOURCES,
        )
    peak = 0

    def done() -> bool | None:
        nonlocal peak
        running = [p for p in api.pods() if p.status.phase == "Running"]
        peak = max(peak, len(running))
        phases = [api.status(n).get("phase") for n in jobs]
        return all(p in ("Succeeded", "Failed") for p in phases) or None

    try:
        wait_for(f"{count} transcodes to end", done, timeout=1800, every=2)
    finally:
        watcher.stop.set()
        thread.join(timeout=10)
    progress_lags: list[float] = []
    end_lags: list[float] = []
    for pod in api.pods():
        name = pod.metadata.labels.get("hlsforge.io/transcodejob", "")
        if name not in jobs:
            continue
        log = api.core.read_namespaced_pod_log(
            pod.metadata.name, api.namespace, container=names.CONTAINER, timestamps=True
        )
        for line in str(log).splitlines():
            stamp, _, text = line.partition(" ")
            progress = progress_from_line(text)
            if progress is None or progress.percent >= 100:
                continue
            at, target = _log_time(stamp), round(progress.percent, 1)
            shown = watcher.first(name, at - 0.5, lambda p, ph, t=target: p >= t or ph != "Running")
            if shown is not None:
                progress_lags.append(max(0.0, shown - at))
        state = (pod.status.container_statuses or [None])[0]
        finished = state.state.terminated.finished_at if state and state.state.terminated else None
        shown = watcher.first(name, 0, lambda p, ph: ph in ("Succeeded", "Failed"))
        if finished is not None and shown is not None:
            end_lags.append(shown - finished.timestamp())
    phases = [api.status(n).get("phase") for n in jobs]
    print(f"concurrent: {count} transcodes, peak {peak} pods Running at once, phases {phases}")
    print(_summary("status lag, progress line -> status.progress", progress_lags))
    print(_summary("status lag, container end -> Succeeded (+-1 s: end time has 1 s)", end_lags))
