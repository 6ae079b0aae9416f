"""An upload belongs to the TranscodeJob the uploader created for it from the moment the job
exists: the uploader reserves the source for that job's name before creating it, so a second
TranscodeJob naming the upload is refused even when the operator sees it first.

Real parts: the uploader and the operator as processes, the transcode in a pod, the media
volume a hostPath claim both processes and the pod see.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import KubeCluster
from tests.integration.harness import (
    ARTIFACTS,
    MediaVolume,
    OperatorProcess,
    free_port,
    make_clip,
    media_namespace,
    operator_env,
    prepare_platform,
    wait_for,
)
from tests.integration.operator_env import Api, wait_phase_or_log
from tests.integration.test_uploader_harness import TOKEN, Uploader

pytestmark = pytest.mark.cluster

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLAIMS = ".hlsforge/claims"


@dataclass
class Stack:
    cluster: KubeCluster
    namespace: str
    media: MediaVolume
    uploader: Uploader
    api: Api


@pytest.fixture
def stack(kube_cluster: KubeCluster) -> Iterator[Stack]:
    """An uploader in a fresh namespace and media volume, and no operator yet."""
    prepare_platform(kube_cluster)
    namespace, media = media_namespace(kube_cluster, "uplclaim")
    log = ARTIFACTS / f"uploader-{namespace}.log"
    uploader = Uploader(kube_cluster, namespace, media.root, log)
    api = Api(kube_cluster.kubeconfig, namespace)
    try:
        uploader.start()
        yield Stack(kube_cluster, namespace, media, uploader, api)
    finally:
        uploader.stop()
        media.remove(kube_cluster)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_upload_is_reserved_for_its_job_and_no_other_job_can_take_it(
    stack: Stack, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "mine.mp4", seconds=4, size="320x180")
    with httpx.Client(base_url=stack.uploader.base, headers=AUTH, timeout=60) as http:
        answer = http.post("/v1/uploads", files={"file": ("mine.mp4", clip.read_bytes())})
    assert answer.status_code == 201, f"{answer.text}\n{stack.uploader.log_tail()}"
    job_id = answer.json()["id"]
    created = stack.api.tj(job_id)
    assert created is not None
    source = created["spec"]["source"]
    record_path = stack.media.root / CLAIMS / f"{source}.claim.json"
    # Before any operator has looked: the upload is already claimed for the job's name.
    record = json.loads(record_path.read_text())
    assert (record["kind"], record["namespace"], record["name"], record["uid"]) == (
        "source",
        stack.namespace,
        job_id,
        "",
    )
    before = _sha256(stack.media.root / source)

    # Another TranscodeJob names the upload; it is there when the operator starts.
    stack.api.create_tj("thief", source=source, output="hls/thief", sourcePolicy="DeleteOnSuccess")
    operator = OperatorProcess(
        env=operator_env(stack.cluster, stack.namespace, stack.media.root, free_port()),
        log_path=ARTIFACTS / f"operator-{stack.namespace}.log",
    ).start()
    try:
        thief = wait_phase_or_log(stack.api, operator, "thief", {"Failed", "Succeeded"}, 120)
        assert thief["phase"] == "Failed" and thief["reason"] == "SourceConflict", thief
        assert f"TranscodeJob {stack.namespace}/{job_id}" in thief["message"]
        assert _sha256(stack.media.root / source) == before
        assert not (stack.media.root / "hls" / "thief").exists()

        # The job the uploader created adopts the claim (deleting the source needs it), succeeds,
        # and alone deletes the source.
        done = wait_phase_or_log(stack.api, operator, job_id, {"Succeeded", "Failed"}, 240)
        assert done["phase"] == "Succeeded", done
        wait_for(
            "the source to be deleted",
            lambda: stack.api.status(job_id).get("sourceDeleted"),
            timeout=60,
        )
    finally:
        operator.stop()
    assert not (stack.media.root / source).exists()
    assert not record_path.exists(), "the source claim is released once the source is gone"
