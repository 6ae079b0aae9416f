"""Two operator replicas with a clear leader: the standby takes over when the active one dies."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helm.release import (
    answers,
    installed,
    peers,
    read_token,
    upload,
    uploader_forward,
)
from tests.integration.conftest import KubeCluster
from tests.integration.harness import make_clip, wait_for

pytestmark = pytest.mark.cluster


def operator_log(cluster: KubeCluster, ns: str, pod: str) -> str:
    return cluster.kubectl("logs", "-n", ns, pod, check=False).stdout


def peering_state(log: str) -> str:
    """The replica's last peering transition in its log: "active" or "paused" (kopf starts
    paused and says nothing until something changes)."""
    state = "paused"
    for line in log.splitlines():
        if "Resuming operations after the pause" in line:
            state = "active"
        elif "Pausing operations in favour of" in line:
            state = "paused"
    return state


def test_standby_operator_takes_over_when_the_active_one_dies(
    kube_cluster: KubeCluster, images: str, tmp_path: Path
) -> None:
    with installed(kube_cluster, images, "hhand", "operator.peeringLifetime=10") as ns:

        def two_peers() -> dict[str, dict[str, object]] | None:
            found = peers(kube_cluster, ns)
            return found if len(found) == 2 else None

        both = wait_for("two operator peers", two_peers, timeout=90)
        # Identities are pod names (POD_ID); the highest priority is the active replica.
        active, standby = sorted(both, key=lambda k: int(str(both[k]["priority"])), reverse=True)
        # kopf starts paused; it logs "Resuming operations" when no live peer outranks it and
        # "Pausing operations in favour of" when one appears (start order decides which it saw).
        wait_for(
            "the active replica to act and the standby to pause",
            lambda: (
                peering_state(operator_log(kube_cluster, ns, active)) == "active"
                and peering_state(operator_log(kube_cluster, ns, standby)) == "paused"
            ),
            timeout=60,
        )
        killed = time.monotonic()
        kube_cluster.kubectl(
            "delete", "pod", "-n", ns, active, "--grace-period=0", "--force", "--wait=false"
        )
        wait_for(
            "the standby to resume",
            lambda: peering_state(operator_log(kube_cluster, ns, standby)) == "active",
            timeout=90,
        )
        print(f"hand-over after {time.monotonic() - killed:.1f}s")
        # ... and work goes on (the standby, or the replacement pod if it outranks it).
        forward = uploader_forward(kube_cluster, ns)
        try:
            token = read_token(kube_cluster, ns)
            wait_for("the uploader", lambda: answers(f"{forward.url}/v1/jobs", token), 60)
            upload(forward, token, make_clip(tmp_path / "clip.mp4", seconds=2))
        finally:
            forward.stop()
