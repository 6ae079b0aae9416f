"""HLS delivery from S3, proxied and redirected, of an output the real engine committed.

The output is made by the real transcoder engine (``run_job``, local clip -> ``s3://``), so it
has the real layout: a version folder and the commit record. The TranscodeJobs are created in
the real API server and marked Succeeded through the status subresource, as the operator
would. A second, uncommitted version folder lies next to the committed one: it must never be
reachable.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3_commit import COMMIT, read_commit
from hlsforge_transcoder.dispatch import run_job
from hlsforge_uploader.jobs.manifest import build_job
from hlsforge_uploader.models import UploadOptions
from tests.integration.conftest import KubeCluster
from tests.integration.test_uploader_harness import (
    TOKEN,
    Uploader,
    make_clip,
    raw_request,
    wait_for,
)
from tests.integration.test_uploader_s3_harness import (
    AUTH,
    install_crds,
    new_bucket,
    s3_uploader,
    set_status,
)
from tests.s3server import S3Server

pytestmark = pytest.mark.cluster

SETTINGS = EncodingSettings.model_validate(
    {
        "renditions": [
            {"name": "180p", "height": 180, "videoBitrateKbps": 300},
            {"name": "144p", "height": 144, "videoBitrateKbps": 150},
        ],
        "segmentDuration": 1,
        "segmentFormat": "fmp4",
        "thumbnails": {"sprite": {"intervalSeconds": 1, "width": 64}},
    }
)


@dataclass
class Site:
    cluster: KubeCluster
    server: S3Server
    namespace: str
    bucket: str
    job: str
    """Succeeded, with a committed output."""
    root: S3Uri
    """The committed version folder of ``job``."""
    stray: S3Uri
    """A copy of that folder that no commit names."""
    uncommitted_job: str
    running_job: str
    proxy: Uploader
    redirect: Uploader

    def object(self, relative: str) -> bytes:
        return self.server.objects().read(self.root.child(relative))


def _job(site_cluster: KubeCluster, namespace: str, name: str, output: str, phase: str) -> None:
    manifest = build_job(
        name, f"{output.replace('/hls/', '/uploads/')}.mp4", output, UploadOptions()
    )
    site_cluster.apply(manifest, namespace)
    set_status(site_cluster, namespace, name, {"phase": phase, "progress": 100})


@pytest.fixture(scope="module")
def site(
    kube_cluster: KubeCluster, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    install_crds(kube_cluster)
    namespace = kube_cluster.create_namespace("upls3d")
    bucket = new_bucket(s3_server, "deliv")
    scratch = tmp_path_factory.mktemp("s3-delivery")
    clip = make_clip(scratch / "clip.mp4", seconds=3)
    objects = s3_server.objects()

    job = f"up-{secrets.token_hex(6)}"
    output = S3Uri(bucket, f"hls/{job}")
    with pytest.MonkeyPatch.context() as patch:  # credentials reach the engine as in a pod
        for name, value in s3_server.env.items():
            patch.setenv(name, value)
        result = run_job(str(clip), str(output), SETTINGS)
    assert result.committed
    record = read_commit(objects, output)
    assert record is not None
    root = output.child(record.version)
    stray = output.child("v20000101T000000Z-deadbeef")
    for item in objects.listing(root):
        rel = S3Uri(bucket, item.key).relative_to(root)
        objects.put(stray.child(rel), objects.read(S3Uri(bucket, item.key)))

    uncommitted = f"up-{secrets.token_hex(6)}"
    for item in objects.listing(root):  # a whole version, but no commit record
        rel = S3Uri(bucket, item.key).relative_to(root)
        objects.put(S3Uri(bucket, f"hls/{uncommitted}/v1/{rel}"), b"x")
    running = f"up-{secrets.token_hex(6)}"
    _job(kube_cluster, namespace, job, str(output), "Succeeded")
    _job(kube_cluster, namespace, uncommitted, f"s3://{bucket}/hls/{uncommitted}", "Succeeded")
    _job(kube_cluster, namespace, running, str(output), "Running")

    with (
        s3_uploader(kube_cluster, s3_server, namespace, bucket, scratch, "proxy") as proxy,
        s3_uploader(
            kube_cluster, s3_server, namespace, bucket, scratch, "redirect",
            HLSFORGE_S3_DELIVERY="redirect",
            # Browsers reach the store by another name than the uploader does.
            HLSFORGE_S3_PUBLIC_ENDPOINT=s3_server.endpoint.replace("127.0.0.1", "localhost"),
        ) as redirect,
    ):  # fmt: skip
        yield Site(kube_cluster, s3_server, namespace, bucket, job, root, stray,
                   uncommitted, running, proxy, redirect)  # fmt: skip


def hls(
    uploader: Uploader,
    job: str,
    path: str,
    headers: dict[str, str] | None = None,
    follow_redirects: bool = False,
) -> httpx.Response:
    url = f"{uploader.base}/v1/jobs/{job}/hls/{path}"
    return httpx.get(url, headers={**AUTH, **(headers or {})}, timeout=30,
                     follow_redirects=follow_redirects)  # fmt: skip


def uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def init_uri(playlist: str) -> str:
    line = next(line for line in playlist.splitlines() if line.startswith("#EXT-X-MAP"))
    return line.split('URI="', 1)[1].rstrip('"')


def test_proxy_serves_the_committed_version_with_types_cache_and_ranges(site: Site) -> None:
    def served() -> httpx.Response | None:  # the uploader's watch may lag the status patch
        r = hls(site.proxy, site.job, "master.m3u8")
        return r if r.status_code == 200 else None

    master = wait_for("the master playlist", served, timeout=10)
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["x-content-type-options"] == "nosniff"
    assert "no-cache" in master.headers["cache-control"]
    assert master.content == site.object("master.m3u8")
    variant = uris(master.text)[0]
    folder = variant.rsplit("/", 1)[0]
    media = hls(site.proxy, site.job, variant)
    assert media.content == site.object(variant)
    segment = f"{folder}/{uris(media.text)[0]}"
    whole = hls(site.proxy, site.job, segment)
    assert whole.status_code == 200 and whole.content == site.object(segment)
    assert whole.headers["content-type"] == "video/mp4"
    assert "immutable" in whole.headers["cache-control"]
    assert whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    part = hls(site.proxy, site.job, segment, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{size}"
    tail = hls(site.proxy, site.job, segment, headers={"Range": "bytes=-7"})
    assert tail.status_code == 206 and tail.content == whole.content[-7:]
    beyond = hls(site.proxy, site.job, segment, headers={"Range": f"bytes={size + 5}-"})
    assert beyond.status_code == 416 and beyond.json()["error"] == "range_not_satisfiable"
    assert beyond.headers["content-range"] == f"bytes */{size}"
    init_path = f"{folder}/{init_uri(media.text)}"
    init = hls(site.proxy, site.job, init_path)
    assert init.status_code == 200 and init.content == site.object(init_path)
    poster = hls(site.proxy, site.job, "poster.jpg")
    assert poster.headers["content-type"] == "image/jpeg"


def test_a_player_plays_the_proxied_output(site: Site) -> None:
    url = f"{site.proxy.base}/v1/jobs/{site.job}/hls/master.m3u8"
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-headers", f"Authorization: Bearer {TOKEN}\r\n",
         "-i", url, "-map", "0", "-f", "null", "-"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("mode", ["proxy", "redirect"])
def test_only_committed_files_of_succeeded_jobs_are_reachable(site: Site, mode: str) -> None:
    uploader = site.proxy if mode == "proxy" else site.redirect
    stray_version = site.stray.relative_to(S3Uri(site.bucket, f"hls/{site.job}"))
    for job, path in [
        (site.uncommitted_job, "master.m3u8"),  # a whole version, no commit record
        (site.running_job, "master.m3u8"),  # committed, but the job has not succeeded
        (site.job, f"{stray_version}/master.m3u8"),  # the uncommitted version folder
        (site.job, "180p/seg_99999.m4s"),
        (site.job, COMMIT),
        (site.job, "manifest.json"),
    ]:
        r = hls(uploader, job, path)
        assert r.status_code == 404, (mode, job, path, r.status_code)
        assert r.json()["error"] == "not_found"
    for path in ("../../x.ts", "%2e%2e/%2e%2e/x.ts", "180p/..%2f..%2fx.ts", "%2fetc%2fpasswd"):
        status, _, _ = raw_request(uploader.port, "GET", f"/v1/jobs/{site.job}/hls/{path}", AUTH)
        assert status in (400, 404), path


def test_redirect_mode_signs_media_in_playlists_and_redirects_files(
    site: Site, tmp_path: Path
) -> None:
    public = site.server.endpoint.replace("127.0.0.1", "localhost")
    master = hls(site.redirect, site.job, "master.m3u8")
    assert master.status_code == 200
    assert master.text == site.object("master.m3u8").decode()  # variants stay relative
    assert master.headers["cache-control"] == "private, no-store"
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    variant = uris(master.text)[0]
    media = hls(site.redirect, site.job, variant)
    assert media.headers["x-content-type-options"] == "nosniff"
    segments = uris(media.text)
    init_url = init_uri(media.text)
    assert all(url.startswith(f"{public}/{site.bucket}/") for url in [init_url, *segments])
    assert all("X-Amz-Signature=" in url for url in [init_url, *segments])
    assert f"/{site.root.key}/" in init_url  # the committed version, never another one

    # A player fetches the media from S3 directly (no token), and it decodes.
    with httpx.Client(timeout=30) as anonymous:
        local = tmp_path / "joined.mp4"
        with local.open("wb") as out:
            for url in [init_url, *segments]:
                got = anonymous.get(url)
                assert got.status_code == 200, got.text
                out.write(got.content)
    folder = variant.rsplit("/", 1)[0]
    assert local.read_bytes().startswith(
        site.object(f"{folder}/{init_uri(site.object(variant).decode())}")
    )
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(local), "-f", "null", "-"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr

    # Any other file is a redirect to a presigned URL of the committed object.
    for path in (f"{folder}/seg_00000.m4s", "poster.jpg", "sprite.jpg"):
        r = hls(site.redirect, site.job, path)
        assert r.status_code == 302, (path, r.text)
        assert r.headers["location"].startswith(f"{public}/{site.bucket}/{site.root.key}/{path}?")
        assert r.headers["cache-control"] == "private, no-store"
        assert httpx.get(r.headers["location"], timeout=30).content == site.object(path)

    # The sprite's cue file is answered here with its image signed.
    cues = hls(site.redirect, site.job, "sprite.vtt")
    assert cues.headers["content-type"].startswith("text/vtt")
    images = [line for line in cues.text.splitlines() if "#xywh=" in line]
    assert images and all(line.startswith(f"{public}/{site.bucket}/") for line in images)


def test_a_re_committed_output_is_served_from_its_new_version(site: Site) -> None:
    """Runs last: it replaces the job's output, as deleting and re-creating the job would.
    The cached commit record then names a version that is gone; it is read again."""
    objects = site.server.objects()
    output = S3Uri(site.bucket, f"hls/{site.job}")
    assert hls(site.proxy, site.job, "master.m3u8").status_code == 200  # cached now
    newer = output.child("v20990101T000000Z-0badcafe")
    for item in objects.listing(site.root):
        rel = S3Uri(site.bucket, item.key).relative_to(site.root)
        objects.put(newer.child(rel), objects.read(S3Uri(site.bucket, item.key)))
    record = read_commit(objects, output)
    assert record is not None
    objects.delete_prefix(site.root)
    objects.delete(output.child(COMMIT))
    moved = replace(record, version=newer.relative_to(output))
    assert objects.put(output.child(COMMIT), moved.render(), if_none_match=True)
    for uploader in (site.proxy, site.redirect):
        r = hls(uploader, site.job, "master.m3u8")
        assert r.status_code == 200, r.text
        assert r.content == objects.read(newer.child("master.m3u8"))
