"""The quickstart's `make up`, `make env` and `make down` against the running cluster."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helm.chart import REPO
from tests.helm.release import (
    MEDIA_ROOT,
    answers,
    get,
)
from tests.integration.conftest import KubeCluster
from tests.integration.harness import free_port

pytestmark = pytest.mark.cluster


def test_make_up_env_down(kube_cluster: KubeCluster, images: str) -> None:
    """The quickstart's commands on a side namespace (the cluster is up, so `down` keeps it)."""
    ns = f"hmk-{os.getpid()}"
    env = {
        **os.environ,
        "HLSFORGE_LOCAL_NAMESPACE": ns,
        "HLSFORGE_LOCAL_PORT": str(free_port()),
        "HLSFORGE_IMAGE_TAG": images,
    }
    make = ["make", "-s", "-C", str(REPO)]
    url, token = "http://127.0.0.1:1", ""
    # Whatever a user's own `make up` keeps (its port-forward's pidfile, its port) is not ours.
    platform_state = kube_cluster.kubeconfig.parent / "platform"
    others = _snapshot(platform_state, skip=ns)
    try:
        started = time.monotonic()
        up = subprocess.run(
            [*make, "up"], env=env, capture_output=True, text=True, timeout=1800, check=False
        )
        assert up.returncode == 0, up.stdout + up.stderr[-3000:]
        print(f"make up: {time.monotonic() - started:.0f}s\n{up.stdout}")
        assert "/ui/" in up.stdout and "token:" in up.stdout
        lines = subprocess.run(
            [*make, "env"], env=env, capture_output=True, text=True, timeout=120, check=True
        ).stdout.splitlines()
        assert len(lines) == 2, lines
        assert lines[0].startswith("export HLSFORGE_URL=http://127.0.0.1:")
        assert lines[1].startswith("export HLSFORGE_TOKEN=")
        url = lines[0].split("=", 1)[1]
        token = lines[1].split("=", 1)[1]
        assert answers(f"{url}/v1/jobs", token)
        assert get(f"{url}/ui/static/vendor/hls.min.js", token)[0] == 200  # the bundle
    finally:
        down = subprocess.run(
            [*make, "down"], env=env, capture_output=True, text=True, timeout=600, check=False
        )
    assert down.returncode == 0, down.stderr
    assert kube_cluster.kubectl("get", "namespace", ns, check=False).returncode != 0
    assert not (MEDIA_ROOT / ns).exists()
    assert not answers(f"{url}/v1/jobs", token)  # the port-forward is gone
    assert _snapshot(platform_state, skip=ns) == others, "another install's state was touched"


def _snapshot(folder: Path, skip: str) -> dict[str, bytes]:
    """Every file under ``folder`` but the ``skip`` namespace's, with its content."""
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).parts[0] != skip
    }
