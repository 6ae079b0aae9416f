"""Chart tests on the cluster reuse the integration suite's cluster fixtures; the images are
built once per session, whichever chart module needs them first."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.helm.chart import REPO
from tests.helm.release import TAG
from tests.integration import conftest as integration
from tests.integration.conftest import KubeCluster

# The integration suite's session cluster and per-test namespace, as fixtures here too.
kube_cluster = integration.kube_cluster
namespace = integration.namespace


@pytest.fixture(scope="session")
def images(kube_cluster: KubeCluster) -> str:
    """Both images built the local way (wheelhouse on the host, local base) into the node."""
    started = time.monotonic()
    script = str(REPO / "hack" / "platform.py")
    done = subprocess.run(
        [sys.executable, script, "images", "--tag", TAG, "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"images built in {time.monotonic() - started:.0f}s\n{done.stderr}")
    return TAG
