"""The engine between S3 locations, on a real S3-compatible server (versitygw) and real ffmpeg.

What must hold: the output appears only through its commit record and verifies from S3 (every
object's SHA-256 was checked by S3 on upload); a second run changes nothing; a loser of a commit
race leaves nothing behind; a failure leaves the source and no commit; a committed output that
no longer verifies is never overwritten; presigned URLs and keys never reach messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hlsforge_api.errors import InvalidInput, StorageError, VerifyFailed
from hlsforge_api.events import Event, decode, encode
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import S3Objects
from hlsforge_storage.s3_commit import COMMIT, publish, sweep_versions, verify_committed
from hlsforge_transcoder.dispatch import run_job
from tests.media.conftest import Clips, decode_errors
from tests.s3server import S3Server

pytestmark = pytest.mark.media

SETTINGS = EncodingSettings.model_validate(
    {"renditions": [{"name": "180p", "height": 180, "videoBitrateKbps": 300}]}
)


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Objects:
    """Credentials reach the engine the way they reach a pod: the environment."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    s3_server.bucket("media")
    return s3_server.objects()


def keys(s3: S3Objects, prefix: S3Uri) -> list[str]:
    return sorted(o.key for o in s3.listing(prefix))


def upload(s3: S3Objects, path: Path, key: str) -> S3Uri:
    uri = S3Uri("media", key)
    assert s3.put(uri, path)
    return uri


def download_tree(s3: S3Objects, root: S3Uri, dest: Path) -> Path:
    for item in s3.listing(root):
        target = dest / item.key[len(root.prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.read(S3Uri(root.bucket, item.key)))
    return dest


@pytest.mark.parametrize("access", ["stream", "download"])
def test_s3_to_s3_commits_a_verified_output_once(
    s3: S3Objects, clips: Clips, tmp_path: Path, access: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HLSFORGE_S3_SOURCE_ACCESS", access)
    src = upload(s3, clips("fits_360p.mp4"), f"uploads/{access}.mp4")
    output = S3Uri("media", f"hls/{access}")
    events: list[Event] = []
    result = run_job(str(src), str(output), SETTINGS, emit=events.append)

    assert result.committed
    assert str(result.dest).startswith(f"s3://media/hls/{access}/v")
    assert [e.event for e in events if e.event != "progress"][-1] == "publishing"
    listed = keys(s3, output)
    assert f"hls/{access}/{COMMIT}" in listed
    root, manifest = verify_committed(s3, output) or pytest.fail("nothing committed")
    assert str(root) == result.dest and manifest == result.manifest
    # Every object carries the SHA-256 S3 checked on upload, equal to the manifest's.
    for rel, fact in manifest["files"].items():
        assert s3.sha256(root.child(rel)) == fact["sha256"]
    local = download_tree(s3, root, tmp_path / "copy")
    assert decode_errors(local / "master.m3u8", "0:v:0") == ""
    assert s3.size(src) is not None  # the engine never deletes the source (the operator does)

    again = run_job(str(src), str(output), SETTINGS)
    assert not again.committed and again.dest == result.dest
    assert keys(s3, output) == listed


def test_volume_source_to_s3_output(s3: S3Objects, clips: Clips) -> None:
    output = S3Uri("media", "hls/from-volume")
    result = run_job(str(clips("fits_360p.mp4")), str(output), SETTINGS)
    assert result.committed and verify_committed(s3, output) is not None


def test_s3_source_to_volume_output_goes_through_the_presigned_url(
    s3: S3Objects, clips: Clips, tmp_path: Path
) -> None:
    src = upload(s3, clips("fits_360p.mp4"), "uploads/to-volume.mp4")
    result = run_job(str(src), str(tmp_path / "out"), SETTINGS)
    assert result.committed and (tmp_path / "out" / "master.m3u8").exists()


def test_invalid_source_keeps_the_source_and_commits_nothing(s3: S3Objects, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 400)
    src = upload(s3, text, "uploads/text.mp4")
    output = S3Uri("media", "hls/text")
    with pytest.raises(InvalidInput):
        run_job(str(src), str(output), SETTINGS)
    assert s3.size(src) == text.stat().st_size
    assert keys(s3, output) == []


def test_missing_source_is_a_retryable_storage_error(s3: S3Objects) -> None:
    with pytest.raises(StorageError) as raised:
        run_job("s3://media/uploads/none.mp4", "s3://media/hls/none", SETTINGS)
    assert raised.value.reason == "SourceMissing"


def test_a_corrupt_source_names_the_object_not_its_presigned_url(
    s3: S3Objects, clips: Clips, tmp_path: Path
) -> None:
    head = clips("fits_360p.mp4").read_bytes()[:4096]
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(head)
    src = upload(s3, cut, "uploads/cut.mp4")
    with pytest.raises((InvalidInput, StorageError)) as raised:
        run_job(str(src), "s3://media/hls/cut", SETTINGS)
    message = str(raised.value.message)
    assert "X-Amz-Signature" not in message and "X-Amz-Credential" not in message


def test_second_publisher_loses_and_leaves_nothing(
    s3: S3Objects, clips: Clips, tmp_path: Path
) -> None:
    local = tmp_path / "out"
    run_job(str(clips("fits_360p.mp4")), str(local), SETTINGS)
    output = S3Uri("media", "hls/race")
    first, manifest, won = publish(s3, local, output)
    second, winner_manifest, won_again = publish(s3, local, output)
    assert won and not won_again and second == first and winner_manifest == manifest
    versions = {k.split("/")[2] for k in keys(s3, output) if k.count("/") > 2}
    assert versions == {first.key.rsplit("/", 1)[1]}


def test_a_damaged_commit_is_never_overwritten(s3: S3Objects, clips: Clips, tmp_path: Path) -> None:
    output = S3Uri("media", "hls/damaged")
    result = run_job(str(clips("fits_360p.mp4")), str(output), SETTINGS)
    root = S3Uri("media", str(result.dest).removeprefix("s3://media/"))
    segment = next(k for k in keys(s3, root) if k.endswith(".ts"))
    s3.put(S3Uri("media", segment), b"tampered")
    with pytest.raises(VerifyFailed):
        verify_committed(s3, output)
    before = keys(s3, output)
    with pytest.raises(StorageError) as raised:
        run_job(str(clips("fits_360p.mp4")), str(output), SETTINGS)
    assert raised.value.reason == "DestinationOccupied"
    assert keys(s3, output) == before


def test_sweep_removes_only_old_uncommitted_versions(
    s3: S3Objects, clips: Clips, tmp_path: Path
) -> None:
    output = S3Uri("media", "hls/sweep")
    result = run_job(str(clips("fits_360p.mp4")), str(output), SETTINGS)
    dead = output.child("v20000101T000000Z-dead0000")
    s3.put(dead.child("180p/seg_00000.ts"), b"left by a killed attempt")
    assert sweep_versions(s3, output, 3600) == []  # written just now: maybe alive
    assert sweep_versions(s3, output, 3600, now=time.time() + 7200) == [dead.key.rsplit("/")[-1]]
    assert all(not k.startswith(dead.prefix) for k in keys(s3, output))
    assert verify_committed(s3, output) is not None and str(result.dest) in {
        str(verify_committed(s3, output)[0])  # type: ignore[index]
    }


def test_container_entrypoint_reports_the_committed_version(
    s3: S3Objects, s3_server: S3Server, clips: Clips
) -> None:
    src = upload(s3, clips("fits_360p.mp4"), "uploads/entry.mp4")
    argv = [sys.executable, "-m", "hlsforge_transcoder", "--settings-json",
            SETTINGS.model_dump_json(by_alias=True), str(src), "s3://media/hls/entry"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    final = events[-1]
    assert final["event"] == "done" and final["committed"] is True
    assert final["outputs"]["masterPlaylist"].startswith("s3://media/hls/entry/v")
    assert {e["event"] for e in events} == {"probed", "planned", "progress", "publishing", "done"}
    for line in done.stdout.splitlines(keepends=True):  # every line an event that reads back
        assert encode(decode(line)) == line
    assert s3_server.secret_key not in done.stdout + done.stderr


def test_cli_transcodes_from_and_to_s3(s3: S3Objects, clips: Clips) -> None:
    src = upload(s3, clips("fits_360p.mp4"), "uploads/cli.mp4")
    argv = [sys.executable, "-m", "hlsforge_cli.main", "transcode", str(src),
            "s3://media/hls/cli", "--json", "--rendition", "180p:180:300"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    final = json.loads(done.stdout.splitlines()[-1])
    assert final["event"] == "done" and final["committed"] is True
    assert verify_committed(s3, S3Uri("media", "hls/cli")) is not None
