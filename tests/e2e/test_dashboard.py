"""The dashboard in headless Chromium (Debian's, driven by playwright-core), end to end.

Real everything: the uploader and the operator as processes, transcodes in pods of the
transcoder image on the local cluster, the media on a ReadWriteMany volume or in a bucket of
an S3 server running in the cluster (played through the uploader's proxy). The browser
uploads a generated clip through the page, sees the upload reach 100% and the job reach
Succeeded live (no reload), then plays the master playlist with hls.js and switches
renditions. A screenshot is saved under artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import REPO, KubeCluster
from tests.integration.test_uploader_harness import (
    ARTIFACTS,
    TOKEN,
    Uploader,
    make_clip,
    wait_for,
)
from tests.integration.test_uploader_pipeline import running_stack

pytestmark = pytest.mark.cluster

CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_CORE = REPO / "uploader" / "web" / "node_modules" / "playwright-core"
HLS_BUNDLE = REPO / "uploader" / "hlsforge_uploader" / "static" / "vendor" / "hls.min.js"
LADDER = {
    "renditions": [
        {"name": "360p", "height": 360, "videoBitrateKbps": 700},
        {"name": "180p", "height": 180, "videoBitrateKbps": 250},
    ],
    "segmentDuration": 2,
}


@pytest.fixture(scope="module", params=["volume", "s3"])
def stack(kube_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[Uploader]:
    missing = [str(p) for p in (CHROMIUM, PLAYWRIGHT_CORE, HLS_BUNDLE) if not p.exists()]
    if missing or shutil.which("node") is None:
        pytest.fail(f"run `make uploader-deps web` first; missing: {missing or ['node']}")
    with running_stack(kube_cluster, "e2e", s3=request.param == "s3") as uploader:
        yield uploader


def test_upload_watch_and_play_in_the_browser(stack: Uploader, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "dashboard-clip.mp4", seconds=8, size="640x360")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    storage = stack.settings.get("HLSFORGE_STORAGE", "volume")
    screenshot = ARTIFACTS / (
        "dashboard.png" if storage == "volume" else f"dashboard-{storage}.png"
    )
    screenshot.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PLAYWRIGHT_CORE": str(PLAYWRIGHT_CORE),
        "BASE_URL": stack.base,
        "TOKEN": TOKEN,
        "CLIP": str(clip),
        "OPTIONS": json.dumps(LADDER),
        "SCREENSHOT": str(screenshot),
        "CHROMIUM": str(CHROMIUM),
        "TIMEOUT_MS": "300000",
    }
    done = subprocess.run(
        ["node", str(Path(__file__).with_name("dashboard.cjs"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the browser:\n{done.stdout}\n{done.stderr}"
    seen: dict[str, Any] = json.loads(lines[-1])
    assert seen["ok"], f"{seen.get('error')}\nuploader:\n{stack.log_tail()}"
    assert done.returncode == 0

    # The upload bar moved and reached 100%.
    assert max(seen["uploadProgress"]) == 100
    # Phases changed live in the same page: no navigation after the first load.
    assert seen["navigations"] == 1 and seen["stillSamePage"] is True
    assert seen["phases"][-1] == "Succeeded"
    assert len(seen["phases"]) >= 2, seen["phases"]  # at least one change seen before the end
    # Playback: time advances, hls.js has more than one level, the switcher switched.
    assert seen["t2"] > seen["t1"] > 0
    assert len(seen["levels"]) > 1 and {lv["height"] for lv in seen["levels"]} == {360, 180}
    assert len(seen["options"]) == len(seen["levels"]) + 1  # "Auto" + one per level
    assert not [m for m in seen["console"] if "hls" in m.lower()], seen["console"]
    assert screenshot.stat().st_size > 10_000

    def status() -> dict[str, Any] | None:
        job = stack.cluster.get_json("tj", seen["jobId"], "-n", stack.namespace)
        found: dict[str, Any] = job["status"]
        return found if found.get("sourceDeleted") else None

    final = wait_for("the source to be deleted", status, timeout=30)
    assert final["phase"] == "Succeeded"
    if storage == "s3":
        assert final["outputs"]["masterPlaylist"].startswith("s3://media/hls/")
