"""Issue 13's proof: hostile clients against the uploader as installed by the chart (real pods,
its defaults), through its Service. Every case of ``hostile_cases.CASES`` runs at once, beside
a normal upload that must reach Succeeded; afterwards the uploader container has not
restarted, its RSS is bounded, and another normal upload succeeds.

The Service is reached at its ClusterIP from the node (kube-proxy's rules apply to the node's
own traffic), not through ``kubectl port-forward``: hundreds of raw connections and a head
sent a byte a second must meet the pod's server, not a forwarder's streams.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helm.chart import REPO
from tests.helm.hostile_cases import CASES, Answer, Case, Target
from tests.helm.release import FULLNAME, answers, installed, read_token
from tests.integration.conftest import KubeCluster
from tests.integration.harness import make_clip, wait_for

pytestmark = pytest.mark.cluster

RSS_BOUND_KIB = 192 * 1024
"""The uploader's RSS after the abuse: under 192 MiB, with its limit at 512 Mi (it idles near
90 MiB; 86 MiB before and after in the first runs)."""
RSS_GROWTH_KIB = 48 * 1024
"""The most the abuse may leave behind in RSS."""


OTHER_TOKEN = f"h{secrets.token_hex(20)}"
"""The named token ``hostile`` (the quota case's own)."""


@pytest.fixture(scope="module")
def release(kube_cluster: KubeCluster, images: str) -> Iterator[str]:
    with installed(kube_cluster, images, "hostile", f"auth.tokens.hostile={OTHER_TOKEN}") as ns:
        yield ns


def upload_and_wait(url: str, token: str, clip: Path) -> str:
    """`hlsforge upload --wait`: the job's id once Succeeded (fails the test otherwise)."""
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "hlsforge"), "upload", str(clip), "--wait", "--json"],
        env={**os.environ, "HLSFORGE_URL": url, "HLSFORGE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and events[-1]["event"] == "done", done.stdout + done.stderr
    job_id: str = events[-1]["id"]
    return job_id


def uploader_pod(cluster: KubeCluster, ns: str) -> tuple[str, str, int]:
    """The uploader pod's name, uid and the uploader container's restart count."""
    pods = cluster.get_json("pods", "-n", ns, "-l", "app.kubernetes.io/component=uploader")
    [pod] = pods["items"]
    [status] = [s for s in pod["status"]["containerStatuses"] if s["name"] == "uploader"]
    return pod["metadata"]["name"], pod["metadata"]["uid"], int(status["restartCount"])


def rss_kib(cluster: KubeCluster, ns: str, pod: str) -> int:
    """VmRSS of the uploader process (pid 1 of its container)."""
    status = cluster.kubectl("exec", "-n", ns, pod, "-c", "uploader", "--", "cat", "/proc/1/status")
    line = next(x for x in status.stdout.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


def check(case: Case, got: Answer) -> str | None:
    """What is wrong with ``got`` for ``case``; None if it is the expected answer."""
    if got.status != case.status:
        return f"status {got.status}, expected {case.status}"
    if case.error is not None:
        try:
            code = json.loads(got.body).get("error")
        except ValueError:
            code = None
        if code != case.error:
            return f"error {code!r}, expected {case.error!r}"
    return None


def test_hostile_clients_get_their_answers_and_a_normal_upload_succeeds(
    kube_cluster: KubeCluster, release: str, tmp_path: Path
) -> None:
    ns = release
    token = read_token(kube_cluster, ns)
    svc = kube_cluster.get_json("svc", f"{FULLNAME}-uploader", "-n", ns)
    ip, port = svc["spec"]["clusterIP"], int(svc["spec"]["ports"][0]["port"])
    url = f"http://{ip}:{port}"
    wait_for("the uploader Service", lambda: answers(f"{url}/v1/jobs", token), timeout=60)
    clip = make_clip(tmp_path / "clip.mp4", seconds=2)
    target = Target((ip, port), token, clip, OTHER_TOKEN)
    pod, uid, restarts = uploader_pod(kube_cluster, ns)
    rss_before = rss_kib(kube_cluster, ns, pod)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(CASES) + 1) as pool:
        normal = pool.submit(upload_and_wait, url, token, clip)
        futures = [(case, pool.submit(case.run, target)) for case in CASES]
        results = [(case, future.result()) for case, future in futures]
        normal_job = normal.result()
    abuse_seconds = time.monotonic() - started

    report = [f"{'case':<45} {'expected':>8} {'got':>5}  note"]
    wrong = []
    for case, got in results:
        problem = check(case, got)
        report.append(f"{case.name:<45} {case.status!s:>8} {got.status!s:>5}  {got.note}")
        if problem:
            wrong.append(f"{case.name}: {problem}; body {got.body[:300]!r}")
    print("\n".join(report) + f"\nabuse phase {abuse_seconds:.0f} s; normal upload {normal_job}")
    assert not wrong, "\n".join(wrong)

    # The uploader survived it all: same pod, same container, memory bounded, still serving.
    assert uploader_pod(kube_cluster, ns) == (pod, uid, restarts)
    rss_after = rss_kib(kube_cluster, ns, pod)
    print(f"uploader RSS {rss_before // 1024} MiB before, {rss_after // 1024} MiB after")
    assert rss_after < RSS_BOUND_KIB and rss_after - rss_before < RSS_GROWTH_KIB, rss_after
    upload_and_wait(url, token, clip)
    assert uploader_pod(kube_cluster, ns) == (pod, uid, restarts)
