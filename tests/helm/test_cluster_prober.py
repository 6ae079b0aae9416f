"""Uploads are probed where no credential is: the prober container of the installed chart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helm.container_view import look_around
from tests.helm.release import (
    installed,
    post_file,
    read_token,
    serving_uploader,
)
from tests.integration.conftest import KubeCluster
from tests.integration.harness import make_clip

pytestmark = pytest.mark.cluster


def test_uploads_are_probed_by_a_container_that_holds_no_credential(
    kube_cluster: KubeCluster, images: str, tmp_path: Path
) -> None:
    with installed(kube_cluster, images, "hprobe") as ns:
        pods = kube_cluster.get_json(
            "pods", "-n", ns, "-l", "app.kubernetes.io/component=uploader"
        )["items"]
        assert len(pods) == 1
        pod = pods[0]
        assert pod["spec"]["automountServiceAccountToken"] is False
        statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
        assert set(statuses) == {"uploader", "prober"}
        assert all(c["ready"] for c in statuses.values()), statuses
        name = pod["metadata"]["name"]

        prober = look_around(kube_cluster, ns, name, "prober")
        uploader = look_around(kube_cluster, ns, name, "uploader")
        # the control: the uploader container has what the prober must not
        assert isinstance(uploader["sa_token"], int) and uploader["sa_token"] > 100
        assert isinstance(uploader["api_token"], int) and uploader["api_token"] > 10
        assert uploader["data"] and "/data" in uploader["mounts"]
        assert any(
            "hlsforge_uploader.prober" not in p and "hlsforge_uploader" in p
            for p in uploader["processes"]
        )
        # the prober: another uid, no token file, no API token, no media, nothing in its env
        assert prober["uid"] != uploader["uid"] and prober["uid"] == 10002
        missing = "FileNotFoundError"
        assert prober["sa_token"] == missing and not prober["sa_dir"]
        assert prober["api_token"] == missing
        assert not prober["data"] and "/data" not in prober["mounts"]
        assert not any(m.startswith("/var/run/secrets") for m in prober["mounts"])
        # the container's environment (what kubectl exec gets, as the prober started with)
        env = prober["exec_env"]
        assert "HLSFORGE_PROBER_SOCKET" in env
        assert not [k for k in env if k.startswith("AWS_") or "TOKEN" in k], env
        assert "HLSFORGE_TOKEN_DIR" in uploader["exec_env"]  # the control
        # the prober made itself non-dumpable: even its own uid cannot read its environ or
        # reach its descriptors (a taken-over ffprobe cannot reach another upload's fd)
        assert str(prober["pid1_env"]).startswith("unreadable"), prober["pid1_env"]
        assert isinstance(uploader["pid1_env"], list)  # the control: a dumpable process
        # it sees only its own processes: not the uploader's /proc/<pid>/environ
        assert all(
            "hlsforge_uploader.prober" in p or "python3 -c" in p for p in prober["processes"] if p
        ), prober["processes"]

        token = read_token(kube_cluster, ns)
        with serving_uploader(kube_cluster, ns, token) as forward:
            clip = make_clip(tmp_path / "clip.mp4", seconds=2)
            started = time.monotonic()
            status, body = post_file(forward.url, token, clip)
            print(f"upload answered {status} in {time.monotonic() - started:.2f}s: {body}")
            assert status == 201, body
            job_id = body["id"]
            job = kube_cluster.get_json("tj", job_id, "-n", ns)
            assert job["spec"]["source"].startswith("uploads/")
            # a file that starts like MP4 but is not one: refused by ffprobe in the prober
            bad = tmp_path / "bad.mp4"
            bad.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 4096)
            status, body = post_file(forward.url, token, bad)
            assert status == 422 and body["error"] == "invalid_media", body
            assert body["reason"] == "ProbeFailed", body
        log = kube_cluster.kubectl("logs", "-n", ns, name, "-c", "prober").stdout
        print(log)
        # the upload's part file was probed there (its name carries the job id)
        assert any(job_id in line and ": ok" in line for line in log.splitlines()), log
        assert "invalid ProbeFailed" in log
