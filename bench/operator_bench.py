"""Operator benchmark on the real local cluster: prints figures, asserts nothing.
(Not named operator.py: run as a script, that name would shadow the standard library.)

1. Burst: N TranscodeJobs created at once (cap above N) -> time from each CR's creation to
   its Job's creation, p50/p95/max. Pods are kept from running (an image that is never
   pulled), so the figure is the operator's and the API server's, not ffmpeg's.
2. Status lag: a few real transcodes in real pods -> time from the Job's completion to the
   TranscodeJob's Succeeded (what users wait for after the work is done).
3. The operator's peak RSS (VmHWM) over the whole run.
4. ``--concurrent 16`` (run alone, instead of 1-3): that many cheap, long transcodes running
   at once -> status lag p50/p95 (progress line -> status.progress, container end ->
   Succeeded), and the peak of pods running; see ``status_lag.py``. Measured on the 2-CPU
   local cluster with 16 running: progress lag p50 20.1 s / p95 35.2 s while log streams
   used the default executor (6 threads), p50 0.60 s / p95 1.08 s with their own pool.

Usage: python bench/operator_bench.py [--burst 200] [--real 3] [--concurrent 0 [--seconds 60]]
(the cluster must be up: ``make cluster-up``; the real transcodes need the transcoder image,
built on first use).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import status_lag  # noqa: E402
from tests.integration.conftest import KubeCluster  # noqa: E402
from tests.integration.harness import (  # noqa: E402
    ARTIFACTS,
    IMAGE,
    MEDIA_PVC,
    MediaVolume,
    OperatorProcess,
    build_transcoder_image,
    make_clip,
    wait_for,
)
from tests.integration.operator_env import Api  # noqa: E402


def local_cluster() -> KubeCluster:
    """The running local cluster (``make cluster-up``), as the test fixture describes it."""

    def ask(*args: str) -> str:
        cmd = [sys.executable, str(REPO / "hack/cluster.py"), *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()

    return KubeCluster(
        kubeconfig=Path(ask("kubeconfig")),
        kubectl_path=Path(ask("path", "kubectl")),
        helm_path=Path(ask("path", "helm")),
        started_here=False,
    )


def delete_all(api: Api) -> None:
    listed: Any = api.custom.list_namespaced_custom_object(
        "hlsforge.io", "v1alpha1", api.namespace, "transcodejobs"
    )
    for cr in listed["items"]:
        api.delete_tj(cr["metadata"]["name"])
    wait_for("the TranscodeJobs to be deleted", lambda: not api.jobs() or None, timeout=600)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--real", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=0, help="jobs running at once")
    parser.add_argument("--seconds", type=float, default=60, help="clip length (--concurrent)")
    args = parser.parse_args()
    cluster = local_cluster()
    namespace = f"bench-{int(time.time())}"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "deploy/crds"))
    media = MediaVolume.create(cluster, namespace)
    api = Api(cluster.kubeconfig, namespace)
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "HLSFORGE_NAMESPACE": namespace,
        "HLSFORGE_MEDIA_ROOT": str(media.root),
        "HLSFORGE_MEDIA_PVC": MEDIA_PVC,
        "HLSFORGE_MAX_RUNNING": str(args.burst + args.real + args.concurrent + 10),
        "HLSFORGE_METRICS_PORT": "0",
        "HLSFORGE_DEFAULT_CPU_REQUEST": "1m",
        "HLSFORGE_DEFAULT_MEMORY_REQUEST": "1Mi",
        "HLSFORGE_DEFAULT_EPHEMERAL_STORAGE_REQUEST": "1Mi",
    }
    if args.concurrent:
        return concurrent(cluster, namespace, media, api, env, args.concurrent, args.seconds)
    # Phase 1: pods never start (the image is never pulled), so only the operator works.
    operator = OperatorProcess(
        env={
            **env,
            "HLSFORGE_TRANSCODER_IMAGE": "hlsforge/absent:none",
            "HLSFORGE_IMAGE_PULL_POLICY": "Never",
        },
        log_path=ARTIFACTS / f"bench-operator-{namespace}.log",
    ).start()
    try:
        time.sleep(3)
        t0 = time.monotonic()
        for i in range(args.burst):
            api.create_tj(f"b-{i:04d}", source=f"uploads/b-{i}.mp4", output=f"hls/b-{i}")
        created_in = time.monotonic() - t0
        wait_for(
            f"{args.burst} Jobs",
            lambda: len(api.jobs()) >= args.burst or None,
            timeout=600,
            every=1,
        )
        jobs = {j.metadata.name.removesuffix("-transcode"): j for j in api.jobs()}
        listed: Any = api.custom.list_namespaced_custom_object(
            "hlsforge.io", "v1alpha1", namespace, "transcodejobs"
        )
        crs: list[dict[str, Any]] = listed["items"]
        # creationTimestamp has one-second resolution: the latency is within +-1 s of this.
        lags = [
            (
                jobs[cr["metadata"]["name"]].metadata.creation_timestamp
                - ts(cr["metadata"]["creationTimestamp"])
            ).total_seconds()
            for cr in crs
            if cr["metadata"]["name"] in jobs
        ]
        print(f"burst: {args.burst} TranscodeJobs created in {created_in:.1f}s")
        print(
            f"CR create -> Job create: p50 {percentile(lags, 0.5):.1f}s  "
            f"p95 {percentile(lags, 0.95):.1f}s  max {max(lags):.1f}s  (1 s timestamp resolution)"
        )
        rss_burst = peak_rss_mb(operator.proc.pid) if operator.proc else float("nan")
    finally:
        # Deleted while the operator runs: their finalizers need it (or the namespace hangs).
        delete_all(api)
        operator.stop()

    print(f"operator peak RSS (burst): {rss_burst:.0f} MB")
    if args.real == 0:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
        media.remove(cluster)
        return 0
    # Phase 2: real transcodes in real pods.
    build_transcoder_image(cluster)
    operator = OperatorProcess(
        env={**env, "HLSFORGE_TRANSCODER_IMAGE": IMAGE, "HLSFORGE_IMAGE_PULL_POLICY": "Never"},
        log_path=ARTIFACTS / f"bench-operator-{namespace}-real.log",
    ).start()
    try:
        status_lags = []
        for i in range(args.real):
            make_clip(media.root / f"uploads/r-{i}.mp4", 3)
            api.create_tj(f"r-{i}", source=f"uploads/r-{i}.mp4", output=f"hls/r-{i}")
        for i in range(args.real):
            status = api.wait_phase(f"r-{i}", {"Succeeded", "Failed"}, timeout=600)
            job: Any = api.batch.read_namespaced_job(f"r-{i}-transcode", namespace)
            done: datetime = job.status.completion_time
            # The Job's completionTime has 1 s resolution; the CR's has microseconds.
            status_lags.append((ts(status["completionTime"]) - done).total_seconds())
        print(
            f"status lag (Job complete -> CR Succeeded, verified): "
            f"median {statistics.median(status_lags):.2f}s  max {max(status_lags):.2f}s  "
            f"over {args.real} real transcodes (+-1 s timestamp resolution)"
        )
        rss = max(rss_burst, peak_rss_mb(operator.proc.pid) if operator.proc else 0)
        print(f"operator peak RSS: {rss:.0f} MB")
    finally:
        delete_all(api)
        operator.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
        media.remove(cluster)
    return 0


def concurrent(
    cluster: KubeCluster,
    namespace: str,
    media: MediaVolume,
    api: Api,
    env: dict[str, str],
    count: int,
    seconds: float,
) -> int:
    """Phase 4 alone: ``count`` real transcodes running at once."""
    build_transcoder_image(cluster)
    operator = OperatorProcess(
        env={**env, "HLSFORGE_TRANSCODER_IMAGE": IMAGE, "HLSFORGE_IMAGE_PULL_POLICY": "Never"},
        log_path=ARTIFACTS / f"bench-operator-{namespace}-concurrent.log",
    ).start()
    try:
        time.sleep(3)
        status_lag.run(api, media.root, count, seconds)
        if operator.proc:
            print(f"operator peak RSS: {peak_rss_mb(operator.proc.pid):.0f} MB")
    finally:
        delete_all(api)
        operator.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
        media.remove(cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
