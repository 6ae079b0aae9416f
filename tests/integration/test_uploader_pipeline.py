"""The happy path for real: upload -> operator -> transcoder pod -> HLS served by the uploader.

The uploader, the operator and ``hlsforge upload --wait`` run as processes; the transcode
runs in a pod of the transcoder image; the media volume is a ReadWriteMany claim on a host
directory that the uploader and the operator also see.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import KubeCluster
from tests.integration.harness import (
    OperatorProcess,
    media_namespace,
    operator_env,
    prepare_platform,
)
from tests.integration.s3_cluster import ClusterS3
from tests.integration.test_uploader_harness import (
    ARTIFACTS,
    TOKEN,
    Uploader,
    free_port,
    make_clip,
    wait_for,
)

pytestmark = pytest.mark.cluster
S3_BUCKET = "media"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def running_stack(cluster: KubeCluster, prefix: str, *, s3: bool = False) -> Iterator[Uploader]:
    """CRD, transcoder image, a restricted namespace with its media claim, operator, uploader.
    With ``s3`` the media live in bucket ``media`` of an S3 server in the namespace instead
    (played through the uploader's proxy), and the operator has no volume at all. All of it
    is stopped and removed on exit."""
    prepare_platform(cluster)
    namespace, media = media_namespace(cluster, prefix)
    server = ClusterS3(cluster, namespace).start(S3_BUCKET) if s3 else None
    settings: dict[str, str] = {}
    uploader_settings: dict[str, str] = {}
    if server is not None:
        # The operator admits S3 locations only in its bucket (762d15c).
        settings = server.operator_env | {"HLSFORGE_MEDIA_PVC": "", "HLSFORGE_S3_BUCKET": S3_BUCKET}
        uploader_settings = server.env | {
            "HLSFORGE_STORAGE": "s3",
            "HLSFORGE_S3_BUCKET": S3_BUCKET,
        }
    operator = OperatorProcess(
        env=operator_env(cluster, namespace, media.root, free_port(), **settings),
        log_path=ARTIFACTS / f"operator-{namespace}.log",
    ).start()
    uploader = Uploader(
        cluster,
        namespace,
        media.root,
        ARTIFACTS / f"uploader-{namespace}.log",
        settings=uploader_settings,
    )
    try:
        uploader.start()
        yield uploader
    finally:
        uploader.stop()
        operator.stop()
        if server is not None:
            server.stop()
        media.remove(cluster)


@pytest.fixture(scope="module")
def stack(kube_cluster: KubeCluster) -> Iterator[Uploader]:
    with running_stack(kube_cluster, "uplpipe") as uploader:
        yield uploader


def test_upload_transcode_and_play_through_the_uploader(stack: Uploader, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "pipe.mp4", seconds=6, size="640x360")
    options = {
        "renditions": [
            {"name": "360p", "height": 360, "videoBitrateKbps": 700},
            {"name": "180p", "height": 180, "videoBitrateKbps": 250},
        ],
        "segmentDuration": 2,
    }
    argv = [sys.executable, "-m", "hlsforge_cli.main", "upload", str(clip), "--wait", "--json"]
    done = subprocess.run(
        [*argv, "--options", json.dumps(options), "--timeout", "300"],
        env={**os.environ, "HLSFORGE_URL": stack.base, "HLSFORGE_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    events: list[dict[str, Any]] = [json.loads(x) for x in done.stdout.splitlines() if x]
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{stack.log_tail()}"
    assert events[-1]["event"] == "done"
    running = [e for e in events if e["event"] == "status" and e["phase"] == "Running"]
    assert running, "no Running status was streamed"
    job_id = events[0]["id"]

    with httpx.Client(headers=AUTH, timeout=30) as http:
        # The operator persists Succeeded first and deletes the source after (never before).
        job = wait_for(
            "the source to be deleted",
            lambda: (j := http.get(f"{stack.base}/v1/jobs/{job_id}").json())["sourceDeleted"] and j,
            timeout=30,
        )
        assert job["phase"] == "Succeeded"
        assert [r["name"] for r in job["renditions"]] == ["360p", "180p"]
        master = http.get(events[-1]["playbackUrl"])
        assert master.status_code == 200
        assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
        variants = [ln for ln in master.text.splitlines() if ln and not ln.startswith("#")]
        assert sorted(variants) == ["180p/index.m3u8", "360p/index.m3u8"]
        hls = f"{stack.base}/v1/jobs/{job_id}/hls"
        playlist = http.get(f"{hls}/{variants[0]}").text
        segments = [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")]
        assert len(segments) >= 3
        segment = http.get(f"{hls}/{variants[0].split('/')[0]}/{segments[0]}")
        assert segment.headers["content-type"] == "video/mp2t"
        assert "immutable" in segment.headers["cache-control"]
    seg_file = tmp_path / "seg.ts"
    seg_file.write_bytes(segment.content)
    probed = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(seg_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    kinds = sorted(s["codec_type"] for s in json.loads(probed.stdout)["streams"])
    assert kinds == ["audio", "video"]
    assert not list((stack.media_root / "uploads").glob(f"{job_id}*"))
