"""The orphan sweep on real storage (a volume folder, and versitygw) with a real uploader
process and the real API server: an upload stored and reserved whose TranscodeJob was never
created is deleted after the grace, and nothing else is: not a young reservation, not one a job
adopted, not a file a job names, not a file the uploader never reserved, not a name that is not
an upload's, not a direct upload's staging, and not a partial file of an upload still arriving.

The claim records are written by the real ``hlsforge_storage.claims.Ownership``, with its clock
set back (or ahead) instead of waiting an hour.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hlsforge_storage.areas import Areas
from hlsforge_storage.claim_spaces import BucketSpace, ClaimError, Space, VolumeSpace
from hlsforge_storage.claims import Owner, Ownership
from hlsforge_storage.locations import S3Uri
from tests.integration.conftest import KubeCluster
from tests.integration.test_uploader_harness import (
    ARTIFACTS,
    TOKEN,
    Uploader,
    pad_mp4,
    stream_until_answer,
)
from tests.integration.test_uploader_s3_harness import install_crds, new_bucket, s3_settings
from tests.s3server import S3Server

pytestmark = pytest.mark.cluster

GRACE = 10
SETTINGS = {
    "HLSFORGE_ORPHAN_GRACE_SECONDS": str(GRACE),
    "HLSFORGE_ORPHAN_SWEEP_INTERVAL_SECONDS": "1",
    "HLSFORGE_IDEMPOTENCY_TAKEOVER_SECONDS": "1",
    # A live upload writes its partial file at least every 2 s + 64 KiB / 64 KiB/s.
    "HLSFORGE_BODY_IDLE_TIMEOUT_SECONDS": "2",
    "HLSFORGE_BODY_MIN_BYTES_PER_SECOND": str(64 * 1024),
    "HLSFORGE_WRITE_BUFFER_BYTES": str(64 * 1024),
}
LONG_AGO = datetime.now(UTC) - timedelta(hours=2)
AHEAD = datetime.now(UTC) + timedelta(minutes=30)
"""A reservation made "just now" that stays younger than the grace for the whole test."""


def upload_id(tag: str) -> str:
    return "up-" + (tag * 20)[:20]


@dataclass
class Media:
    """One backend as the test sees it: where sources go and the claims on them."""

    location: Callable[[str], str]
    put: Callable[[str, bytes], None]
    exists: Callable[[str], bool]
    ownership: Callable[[datetime], Ownership]


def volume_media(root: Path) -> Media:
    def location(name: str) -> str:
        return f"uploads/{name}"

    def put(name: str, data: bytes) -> None:
        (root / "uploads").mkdir(parents=True, exist_ok=True)
        (root / "uploads" / name).write_bytes(data)

    def exists(name: str) -> bool:
        return (root / "uploads" / name).exists()

    def ownership(at: datetime) -> Ownership:
        return Ownership(Areas(), VolumeSpace(root), _no_bucket, clock=lambda: at)

    return Media(location, put, exists, ownership)


def _no_bucket(name: str) -> Space:
    raise ClaimError(name)


def bucket_media(server: S3Server, bucket: str) -> Media:
    objects = server.objects()

    def location(name: str) -> str:
        return f"s3://{bucket}/uploads/{name}"

    def put(name: str, data: bytes) -> None:
        objects.put(S3Uri(bucket, f"uploads/{name}"), data)

    def exists(name: str) -> bool:
        return objects.size(S3Uri(bucket, f"uploads/{name}")) is not None

    def ownership(at: datetime) -> Ownership:
        areas = Areas(buckets=frozenset({bucket}))
        return Ownership(areas, None, lambda _: BucketSpace(objects, bucket), clock=lambda: at)

    return Media(location, put, exists, ownership)


def job(cluster: KubeCluster, namespace: str, name: str, source: str, output: str) -> None:
    manifest = {
        "apiVersion": "hlsforge.io/v1alpha1",
        "kind": "TranscodeJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"source": source, "output": output},
    }
    cluster.apply(manifest, namespace)


@contextlib.contextmanager
def uploader(
    cluster: KubeCluster, namespace: str, media: Path, env: dict[str, str]
) -> Iterator[Uploader]:
    log = ARTIFACTS / f"uploader-{namespace}-sweep.log"
    up = Uploader(cluster, namespace, media, log, settings={**SETTINGS, **env})
    try:
        yield up.start()
    finally:
        up.stop()


def arrange(media: Media, cluster: KubeCluster, namespace: str, data: bytes) -> dict[str, str]:
    """Every case, stored; returns case -> file name."""
    names = {
        "orphan": f"{upload_id('a')}.mp4",
        "young": f"{upload_id('b')}.mp4",
        "adopted": f"{upload_id('c')}.mp4",
        "with job": f"{upload_id('d')}.mp4",
        "named by a job": f"{upload_id('e')}.mp4",
        "never reserved": f"{upload_id('f')}.mp4",
        "not an upload": "mine.mp4",
    }
    for name in names.values():
        media.put(name, data)
    old = media.ownership(LONG_AGO)
    for case in ("orphan", "with job", "named by a job"):
        name = names[case]
        old.reserve_source(media.location(name), namespace, name.removesuffix(".mp4"))
    old.reserve_source(media.location(names["not an upload"]), namespace, "mine")
    media.ownership(AHEAD).reserve_source(media.location(names["young"]), namespace, upload_id("b"))
    adopted = Owner(namespace, upload_id("c"), "0b7c1d2e-uid")
    old.claim_source(media.location(names["adopted"]), adopted)
    with_job = names["with job"].removesuffix(".mp4")
    job(cluster, namespace, with_job, media.location(names["with job"]), f"hls/{with_job}")
    other = "elsewhere-named"
    job(cluster, namespace, other, media.location(names["named by a job"]), f"hls/{other}")
    return names


def settle(media: Media, names: dict[str, str]) -> None:
    deadline = time.monotonic() + 30
    while media.exists(names["orphan"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2.5)  # a few more sweeps: nothing else may go


def check(media: Media, names: dict[str, str], namespace: str) -> None:
    assert not media.exists(names["orphan"])
    record = media.ownership(LONG_AGO).record(media.location(names["orphan"]))
    assert record is None  # its reservation went with it
    for case, name in names.items():
        if case != "orphan":
            assert media.exists(name), f"the sweep deleted {case!r} ({name})"


def test_the_volume_sweep_deletes_only_orphans(
    kube_cluster: KubeCluster, clip: Path, tmp_path: Path
) -> None:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("sweep")
    root = tmp_path / "media"
    root.mkdir()
    media = volume_media(root)
    names = arrange(media, kube_cluster, namespace, clip.read_bytes())
    stale = root / "uploads" / f".{upload_id('g')}.mp4.part-0badf00d"
    fresh = root / "uploads" / f".{upload_id('h')}.mp4.part-0goodf00"
    for partial in (stale, fresh):
        partial.write_bytes(b"\0" * 1000)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    os.utime(fresh, (time.time() + 1800, time.time() + 1800))
    big = pad_mp4(clip, tmp_path / "big.mp4", 3 * 1024 * 1024).read_bytes()

    with uploader(kube_cluster, namespace, root, {}) as up:
        # An upload arriving slowly for longer than the grace: its partial file is live.
        position = {"n": 0}

        def trickle() -> bytes | None:
            if position["n"] >= len(big):
                return None
            time.sleep(0.25)
            piece = big[position["n"] : position["n"] + 64 * 1024]
            position["n"] += len(piece)
            return piece

        auth = {"Authorization": f"Bearer {TOKEN}"}
        started = time.monotonic()
        answer = stream_until_answer(up.port, "/v1/uploads", auth, trickle)
        assert time.monotonic() - started > GRACE
        assert answer.status == 201, answer.body
        assert media.exists(f"{answer.body['id']}.mp4")
        settle(media, names)
    check(media, names, namespace)
    assert not stale.exists() and fresh.exists()


def test_the_bucket_sweep_deletes_only_orphans(
    kube_cluster: KubeCluster, s3_server: S3Server, clip: Path, tmp_path: Path
) -> None:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("sweeps3")
    bucket = new_bucket(s3_server, "sweep")
    media = bucket_media(s3_server, bucket)
    names = arrange(media, kube_cluster, namespace, clip.read_bytes())
    staging = S3Uri(bucket, f"uploads/direct/{upload_id('i')}/source")
    objects = s3_server.objects()
    objects.put(staging, clip.read_bytes())
    env = s3_settings(s3_server, bucket)
    with uploader(kube_cluster, namespace, tmp_path, env):
        settle(media, names)
    check(media, names, namespace)
    assert objects.size(staging) is not None  # a direct upload's staging is not the sweep's
