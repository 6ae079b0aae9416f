"""The chart in S3 mode on the local cluster, against an S3 server in the test's namespace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3_commit import verify_committed
from tests.helm.container_view import look_around, uploader_pod_name
from tests.helm.release import (
    answers,
    get,
    installed,
    read_token,
    restricted_namespace,
    upload,
    uploader_forward,
)
from tests.integration.conftest import KubeCluster
from tests.integration.harness import make_clip, wait_for
from tests.integration.s3_cluster import SECRET as S3_SECRET
from tests.integration.s3_cluster import ClusterS3
from tests.integration.test_uploader_harness import stream_until_answer

pytestmark = pytest.mark.cluster


def test_s3_mode_upload_transcode_play_and_cleanup(
    kube_cluster: KubeCluster, images: str, tmp_path: Path
) -> None:
    """The chart in S3 mode against an S3 server in the namespace: upload through the uploader
    Service streams to the bucket, a transcoder pod publishes there, the source object goes,
    playback goes through the uploader, and an upload over the size cap leaves no multipart
    upload behind."""
    ns = restricted_namespace(kube_cluster, "hs3")
    s3 = ClusterS3(kube_cluster, ns).start("media")
    sets = [
        "storage.mode=s3",
        "storage.s3.bucket=media",
        "storage.s3.region=us-east-1",
        f"storage.s3.endpoint={s3.internal_endpoint}",
        "storage.s3.addressing=path",
        f"storage.s3.credentialsSecret={S3_SECRET}",
        "storage.s3.prefix=site/",
        "networkPolicy.s3Ports={7070}",
        # The local cluster's DNS is CoreDNS on the node, not a kube-dns pod.
        f"networkPolicy.dnsEgress[0].ipBlock.cidr={kube_cluster.node_ip()}/32",
        "uploader.maxUploadBytes=20971520",
        "operator.replicas=1",
    ]
    try:
        with installed(kube_cluster, images, "hs3", *sets, namespace=ns, volume=False):
            assert not kube_cluster.get_json("pvc", "-n", ns)["items"]  # no volume at all
            # the S3 keys are in the uploader container only; the prober probes by URL
            pod = uploader_pod_name(kube_cluster, ns)
            keys = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
            assert set(keys) <= set(look_around(kube_cluster, ns, pod, "uploader")["exec_env"])
            prober_env = look_around(kube_cluster, ns, pod, "prober")["exec_env"]
            assert not [k for k in prober_env if k.startswith("AWS_")], prober_env
            token = read_token(kube_cluster, ns)
            forward = uploader_forward(kube_cluster, ns)
            try:
                wait_for(
                    "the uploader through port-forward",
                    lambda: answers(f"{forward.url}/v1/jobs", token),
                    timeout=60,
                )
                job_id = upload(forward, token, make_clip(tmp_path / "clip.mp4", seconds=3))
                objects = s3.objects()
                tj = kube_cluster.get_json("tj", job_id, "-n", ns)
                assert tj["spec"]["source"].startswith("s3://media/site/uploads/")
                assert tj["spec"]["output"] == f"s3://media/site/hls/{job_id}"
                master = tj["status"]["outputs"]["masterPlaylist"]
                assert master.startswith(f"s3://media/site/hls/{job_id}/v"), master
                assert verify_committed(objects, S3Uri("media", f"site/hls/{job_id}"))
                wait_for(
                    "the source object to be deleted",
                    lambda: not list(objects.listing(S3Uri("media", "site/uploads"))) or None,
                    timeout=30,
                )

                status, headers, body = get(
                    f"{forward.url}/v1/jobs/{job_id}/hls/master.m3u8", token
                )
                assert status == 200, body[:300]
                variant = next(ln for ln in body.decode().splitlines() if ln.endswith(".m3u8"))
                status, _, body = get(f"{forward.url}/v1/jobs/{job_id}/hls/{variant}", token)
                segment = next(ln for ln in body.decode().splitlines() if ln.endswith(".ts"))
                folder = variant.rsplit("/", 1)[0]
                status, headers, body = get(
                    f"{forward.url}/v1/jobs/{job_id}/hls/{folder}/{segment}", token
                )
                assert status == 200 and headers["content-type"] == "video/mp2t"
                assert len(body) > 1000

                # A chunked body over the 20 MiB cap: parts went out, then 413, nothing left.
                head = make_clip(tmp_path / "head.mp4", seconds=2).read_bytes()
                block, total, sent = 1 << 20, 40 << 20, {"n": 0}

                def chunk() -> bytes | None:
                    if sent["n"] >= total:
                        return None
                    sent["n"] += block
                    return head if sent["n"] == block else os.urandom(block)

                auth = {"Authorization": f"Bearer {token}"}
                result = stream_until_answer(forward.port, "/v1/uploads", auth, chunk)
                assert result.status == 413, result
                assert s3.open_multipart_uploads("media") == []
                assert not list(objects.listing(S3Uri("media", "site/uploads")))
            finally:
                forward.stop()
    finally:
        s3.stop()
