"""``hlsforge upload`` as a user runs it: a process, against the running uploader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def up(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploader]:
    kube_cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "deploy" / "crds")
    )
    kube_cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    namespace = kube_cluster.create_namespace("uplcli")
    uploader = Uploader(
        kube_cluster,
        namespace,
        tmp_path_factory.mktemp("media"),
        ARTIFACTS / f"uploader-{namespace}.log",
    ).start()
    try:
        yield uploader
    finally:
        uploader.stop()


def cli(up: Uploader, *args: str, token: str = TOKEN) -> subprocess.Popen[str]:
    env = {**os.environ, "HLSFORGE_URL": up.base, "HLSFORGE_TOKEN": token}
    return subprocess.Popen(
        [sys.executable, "-m", "hlsforge_cli.main", "upload", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_upload_wait_json_follows_the_job_to_the_end(up: Uploader, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4")
    proc = cli(up, str(clip), "--wait", "--json", "--options", '{"priority": 2}')

    def job_id() -> str | None:
        listed = up.cluster.get_json("tj", "-n", up.namespace)["items"]
        return listed[0]["metadata"]["name"] if listed else None

    name = wait_for("the job", job_id, timeout=30, every=0.2)
    assert up.cluster.get_json("tj", name, "-n", up.namespace)["spec"]["priority"] == 2
    time.sleep(0.5)
    for status in (
        {"phase": "Running", "progress": 50, "speed": 2.0, "eta": 3, "attempts": 1},
        {"phase": "Succeeded", "progress": 100},
    ):
        up.cluster.kubectl(
            *("patch", "tj", name, "-n", up.namespace, "--subresource=status", "--type=merge"),
            *("-p", json.dumps({"status": status})),
        )
        time.sleep(0.3)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = lines(out)
    assert events[0]["event"] == "uploaded" and events[0]["id"] == name
    statuses = [(e["phase"], e["progress"]) for e in events if e["event"] == "status"]
    assert ("Running", 50) in statuses and statuses[-1] == ("Succeeded", 100)
    assert events[-1] == {
        "event": "done",
        "id": name,
        "phase": "Succeeded",
        "playbackUrl": f"{up.base}/v1/jobs/{name}/hls/master.m3u8",
    }


def test_a_failed_job_exits_1_with_its_reason(up: Uploader, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "f.mp4")
    proc = cli(up, str(clip), "--wait", "--json", "--idempotency-key", "fail-1")
    uploaded: dict[str, Any] = {}

    def first_line() -> bool:
        assert proc.stdout is not None
        uploaded.update(json.loads(proc.stdout.readline()))
        return True

    wait_for("the upload", first_line, timeout=30)
    up.cluster.kubectl(
        *("patch", "tj", uploaded["id"], "-n", up.namespace, "--subresource=status"),
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Failed", "reason": "InvalidInput", "message": "nope"}}),
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert lines(out)[-1]["reason"] == "InvalidInput"


def test_refusals_and_usage(up: Uploader, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 10)
    proc = cli(up, str(text), "--json")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and lines(out)[-1]["reason"] == "TextFile"
    proc = cli(up, str(text), "--json", token="wrong")  # noqa: S106 - a refused token
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and lines(out)[-1]["reason"] == "unauthorized"
    proc = cli(up, str(tmp_path / "missing.mp4"))
    proc.communicate(timeout=60)
    assert proc.returncode == 2


def test_human_output_ends_with_the_playback_url(up: Uploader, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "h.mp4")
    proc = cli(up, str(clip))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    url = out.strip().splitlines()[-1]
    assert url.startswith(f"{up.base}/v1/jobs/up-") and url.endswith("/hls/master.m3u8")
    assert "uploaded h.mp4" in err
