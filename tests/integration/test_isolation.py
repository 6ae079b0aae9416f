"""Isolation on the real cluster (volume mode): a TranscodeJob touches only its own media.

Every attack of issue 11 is tried as a user who may only create TranscodeJobs, against a
published "victim" output; each must be refused (or contained) with a clear reason, and the
victim's files must be byte-for-byte what they were. The operator here deletes outputs with
their TranscodeJob (retention Delete), so a delete that reached outside its own claim would
show as missing files. One transcode runs at a time, so "queued" is real.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import KubeCluster
from tests.integration.harness import (
    OperatorProcess,
    free_port,
    make_clip,
    media_namespace,
    prepare_platform,
    wait_for,
)
from tests.integration.operator_env import Api, Env, operator_env_in, wait_phase_or_log

pytestmark = pytest.mark.cluster

LADDER = [{"name": "180p", "height": 180, "videoBitrateKbps": 300}]
SMALL: dict[str, Any] = {"renditions": LADDER, "thumbnails": {"poster": False}}


def checksums(root: Path) -> dict[str, str]:
    """Every file below ``root`` with its SHA-256 (links and all, nothing followed)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def env(kube_cluster: KubeCluster) -> Iterator[Env]:
    prepare_platform(kube_cluster)
    yield from operator_env_in(
        kube_cluster, "iso", HLSFORGE_OUTPUT_RETENTION="Delete", HLSFORGE_MAX_RUNNING="1"
    )


@pytest.fixture(scope="module")
def victim(env: Env) -> dict[str, str]:
    """A published output that every attack aims at; its checksums before any attack."""
    source = env.clip("victim.mp4", seconds=3, size="320x180")
    env.api.create_tj("victim", source=source, output="hls/victim", **SMALL)
    assert env.wait_phase("victim", {"Succeeded", "Failed"})["phase"] == "Succeeded"
    env.wait_source_deleted("victim")
    before = checksums(env.media.root / "hls" / "victim")
    assert "master.m3u8" in before and any(k.endswith(".ts") for k in before), before
    return before


def refused(env: Env, name: str, reason: str, words: str) -> dict[str, Any]:
    status = env.wait_phase(name, {"Failed", "Succeeded"}, timeout=60)
    assert status["phase"] == "Failed", status
    assert status["reason"] == reason and words in status["message"], status
    assert f"{name}-transcode" not in [j.metadata.name for j in env.api.jobs()]
    return status


def unchanged(env: Env, victim: dict[str, str]) -> None:
    assert checksums(env.media.root / "hls" / "victim") == victim


def delete_and_wait(env: Env, name: str) -> None:
    env.api.delete_tj(name)
    wait_for(f"{name} to be gone", lambda: env.api.tj(name) is None, timeout=60)


def test_a_foreign_segment_as_source_is_refused_and_never_deleted(
    env: Env, victim: dict[str, str]
) -> None:
    segment = next(k for k in victim if k.endswith(".ts"))
    env.api.create_tj("steal", source=f"hls/victim/{segment}", output="hls/steal", **SMALL)
    refused(env, "steal", "InvalidSpec", "outside the sources area")
    # The reported attack itself: the victim's segment as source, its output as output.
    with pytest.raises(ApiException, match="inside one another"):
        env.api.create_tj("steal2", source=f"hls/victim/{segment}", output="hls/victim")
    delete_and_wait(env, "steal")
    unchanged(env, victim)


def test_a_source_linked_to_a_foreign_segment_fails_at_once_and_is_never_followed(
    env: Env, victim: dict[str, str]
) -> None:
    segment = next(k for k in victim if k.endswith(".ts"))
    link = env.media.root / "uploads" / "link.mp4"
    link.symlink_to(env.media.root / "hls" / "victim" / segment)
    env.api.create_tj("link", source="uploads/link.mp4", output="hls/link", **SMALL)
    refused(env, "link", "InvalidInput", "symbolic link")
    delete_and_wait(env, "link")
    assert link.is_symlink()
    unchanged(env, victim)


def test_another_jobs_output_inside_or_above_is_refused_and_deleting_that_job_sweeps_nothing(
    env: Env, victim: dict[str, str]
) -> None:
    # A fake attempt folder of the victim's output: a sweep of "hls/victim" would take it.
    attempt = env.media.root / "hls" / "victim.tmp-inflight"
    attempt.mkdir()
    (attempt / "seg.ts").write_bytes(b"in flight")
    for name, output, words in (
        ("same", "hls/victim", "is claimed by TranscodeJob"),
        ("inside", "hls/victim/180p", "lies inside 'hls/victim'"),
    ):
        source = env.clip(f"{name}.mp4", seconds=1, size="160x90")
        env.api.create_tj(name, source=source, output=output, **SMALL)
        refused(env, name, "OutputConflict", words)
        assert (env.media.root / source).exists(), "a refused job's source is kept"
        delete_and_wait(env, name)
    unchanged(env, victim)
    assert (attempt / "seg.ts").read_bytes() == b"in flight"


def test_an_output_above_another_output_is_refused(env: Env) -> None:
    env.api.create_tj("ep1", source=env.clip("ep1.mp4", seconds=1), output="hls/show/ep1", **SMALL)
    assert env.wait_phase("ep1", {"Succeeded", "Failed"})["phase"] == "Succeeded"
    before = checksums(env.media.root / "hls" / "show")
    env.api.create_tj("show", source=env.clip("show.mp4", seconds=1), output="hls/show", **SMALL)
    refused(env, "show", "OutputConflict", "lies above another job's output (hls/show/ep1")
    delete_and_wait(env, "show")
    assert checksums(env.media.root / "hls" / "show") == before
    # The owner may still delete its own output (retention Delete): only its own.
    delete_and_wait(env, "ep1")
    assert not (env.media.root / "hls" / "show" / "ep1").exists()


def test_two_jobs_naming_one_source_the_second_is_refused(env: Env) -> None:
    source = env.clip("shared.mp4", seconds=2, size="160x90")
    env.api.create_tj("first", source=source, output="hls/first", **SMALL)
    wait_for("first to claim", lambda: env.api.status("first").get("phase"), timeout=30)
    env.api.create_tj("second", source=source, output="hls/second", **SMALL)
    refused(env, "second", "SourceConflict", "claimed by TranscodeJob")
    assert env.wait_phase("first", {"Succeeded", "Failed"})["phase"] == "Succeeded"
    env.wait_source_deleted("first")
    assert not (env.media.root / source).exists()
    assert not (env.media.root / "hls" / "second").exists()


def test_a_high_priority_job_cannot_take_a_queued_jobs_output(env: Env) -> None:
    # The blocker holds the only slot with a transcode that really runs (a pod the scheduler
    # cannot place would hold no slot): a minute of noise takes far longer than the steps below.
    env.api.create_tj(
        "blocker",
        source=env.clip("blocker.mp4", seconds=60, size="640x360", noise=True),
        output="hls/blocker",
        renditions=LADDER,
    )
    env.wait_phase("blocker", {"Running"}, timeout=60)
    env.api.create_tj("queued", source=env.clip("queued.mp4", seconds=1), output="hls/q", **SMALL)
    assert env.wait_phase("queued", {"Queued"}, timeout=30)["phase"] == "Queued"
    env.api.create_tj(
        "jumper", source=env.clip("jumper.mp4", seconds=1), output="hls/q", priority=100, **SMALL
    )
    refused(env, "jumper", "OutputConflict", "is claimed by TranscodeJob")
    delete_and_wait(env, "blocker")
    assert env.wait_phase("queued", {"Succeeded", "Failed"}, timeout=300)["phase"] == "Succeeded"
    assert (env.media.root / "uploads" / "jumper.mp4").exists()


def test_a_missing_source_fails_at_once_and_the_pod_never_sees_the_volume(env: Env) -> None:
    env.api.create_tj("ghost", source="uploads/ghost.mp4", output="hls/ghost", **SMALL)
    refused(env, "ghost", "SourceMissing", "uploads/ghost.mp4 does not exist")
    assert not (env.media.root / "uploads" / "ghost.mp4").exists()


def test_claims_are_released_when_a_failed_job_goes(env: Env) -> None:
    bad = env.media.root / "uploads" / "notes.mp4"
    bad.write_text("not a video\n" * 100)
    env.api.create_tj("notes", source="uploads/notes.mp4", output="hls/notes", **SMALL)
    status = env.wait_phase("notes", {"Failed", "Succeeded"})
    assert status["reason"] == "InvalidInput", status
    assert not list((env.media.root / "hls").glob("notes.tmp-*")), "partials swept at the end"
    delete_and_wait(env, "notes")
    # Nothing was published, so the location and the source are free for a new job.
    env.clip("notes.mp4", seconds=1, size="160x90")
    env.api.create_tj("notes2", source="uploads/notes.mp4", output="hls/notes", **SMALL)
    assert env.wait_phase("notes2", {"Succeeded", "Failed"})["phase"] == "Succeeded"


def test_a_transcoder_pod_sees_only_its_source_and_its_work_folder(
    env: Env, victim: dict[str, str]
) -> None:
    source = env.clip("peek.mp4", seconds=30, size="640x360", noise=True)
    env.api.create_tj("peek", source=source, output="hls/peek", renditions=LADDER)

    def running_pod() -> str | None:
        pods = env.api.pods("hlsforge.io/transcodejob=peek")
        return next((p.metadata.name for p in pods if p.status.phase == "Running"), None)

    pod = wait_for("peek's pod to run", running_pod, timeout=120)
    look = (
        "import json, os\n"
        "seen = sorted(os.path.join(d, n) for d, ds, fs in os.walk('/media') for n in ds + fs)\n"
        "print(json.dumps({'seen': seen, 'data': os.path.exists('/data'),"
        " 'source_writable': os.access('/media/source/peek.mp4', os.W_OK)}))\n"
    )
    done = env.cluster.kubectl(
        "exec", "-n", env.namespace, pod, "-c", "transcoder", "--", "python3", "-c", look
    )
    inside = json.loads(done.stdout)
    assert inside["data"] is False and inside["source_writable"] is False, inside
    top = {p for p in inside["seen"] if p.count("/") == 2}
    assert top == {"/media/source", "/media/work"}, inside["seen"]
    assert [p for p in inside["seen"] if p.startswith("/media/source/")] == [
        "/media/source/peek.mp4"
    ]
    assert not any("victim" in p for p in inside["seen"])
    assert env.wait_phase("peek", {"Succeeded", "Failed"}, timeout=300)["phase"] == "Succeeded"
    assert (env.media.root / "hls" / "peek" / "master.m3u8").exists()
    unchanged(env, victim)


@dataclass
class TwoNamespaces:
    own: Env
    """The operator's namespace: the media volume's claim lives here."""
    other: Api


@pytest.fixture(scope="module")
def two_namespaces(kube_cluster: KubeCluster) -> Iterator[TwoNamespaces]:
    """An operator watching two namespaces by pattern (as a cluster-wide one watches all):
    each namespace has its own folder in every area, and the volume belongs to one."""
    prepare_platform(kube_cluster)
    base = f"xw{secrets.token_hex(2)}"
    own, media = media_namespace(kube_cluster, base)
    other = kube_cluster.create_namespace(base)
    env = Env(kube_cluster, own, media, Api(kube_cluster.kubeconfig, own),
              OperatorProcess(env={}, log_path=Path()), free_port())  # fmt: skip
    settings = {
        "HLSFORGE_NAMESPACE": f"{base}-*",
        "HLSFORGE_POD_NAMESPACE": own,
        "HLSFORGE_S3_BUCKET": "media",  # never reached: every S3 job here is refused
    }
    env.operator = env.new_operator("xw", settings=settings).start()
    try:
        yield TwoNamespaces(env, Api(kube_cluster.kubeconfig, other))
    finally:
        env.operator.stop()
        media.remove(kube_cluster)


def test_watching_many_namespaces_each_names_only_its_own_media(
    two_namespaces: TwoNamespaces,
) -> None:
    env, other = two_namespaces.own, two_namespaces.other
    own = env.namespace
    source = f"uploads/{own}/mine.mp4"
    make_clip(env.media.root / source, 1, size="160x90")
    env.api.create_tj("mine", source=source, output=f"hls/{own}/mine", **SMALL)
    assert env.wait_phase("mine", {"Succeeded", "Failed"})["phase"] == "Succeeded"
    published = checksums(env.media.root / "hls" / own / "mine")
    refusals = [
        (env.api, "flat", "uploads/a.mp4", "hls/flat", f"below uploads/{own}/"),
        (env.api, "into-other", f"uploads/{own}/b.mp4", f"hls/{other.namespace}/x",
         f"below hls/{own}/"),
        (other, "volume", f"uploads/{other.namespace}/c.mp4", f"hls/{other.namespace}/c",
         f"only in namespace '{own}'"),
        (other, "steal", f"s3://media/uploads/{own}/mine.mp4",
         f"s3://media/hls/{other.namespace}/steal", f"below uploads/{other.namespace}/"),
    ]  # fmt: skip
    for api, name, src, out, _ in refusals:
        api.create_tj(name, source=src, output=out, **SMALL)
    for api, name, _, _, words in refusals:
        status = wait_phase_or_log(api, env.operator, name, {"Failed", "Succeeded"}, 60)
        assert status["reason"] == "InvalidSpec" and words in status["message"], status
        assert f"{name}-transcode" not in [j.metadata.name for j in api.jobs()]
    assert checksums(env.media.root / "hls" / own / "mine") == published
