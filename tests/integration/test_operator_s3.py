"""The operator with S3 media on the real cluster: transcoder pods read the source object and
publish the output to an S3 server running in the cluster; the operator verifies from S3,
deletes the source object, and (retention Delete) the output when the CR goes.

The operator runs on the host in S3-only mode (no media volume at all), reaching the server
through a port-forward; the pods reach it as ``http://s3:7070`` with keys from a Secret.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hlsforge_api.v1alpha1 import TranscodeJobSpec
from hlsforge_operator import jobspec
from hlsforge_operator.settings import OperatorSettings
from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import S3Objects
from hlsforge_storage.s3_commit import COMMIT, verify_committed
from hlsforge_storage.s3config import S3Config
from tests.integration.conftest import KubeCluster
from tests.integration.harness import (
    ARTIFACTS,
    OperatorProcess,
    free_port,
    make_clip,
    operator_env,
    prepare_platform,
    wait_for,
)
from tests.integration.operator_env import Api, wait_phase_or_log
from tests.integration.s3_cluster import SECRET, ClusterS3
from tests.media.conftest import decode_errors

pytestmark = pytest.mark.cluster

BUCKET = "media"
LADDER = [{"name": "180p", "height": 180, "videoBitrateKbps": 300}]


@dataclass
class Env:
    cluster: KubeCluster
    namespace: str
    api: Api
    s3: ClusterS3
    objects: S3Objects
    operator: OperatorProcess

    def wait_phase(self, name: str, phases: set[str], timeout: float = 240) -> dict[str, Any]:
        return wait_phase_or_log(self.api, self.operator, name, phases, timeout)

    def put_clip(self, tmp: Path, name: str, **kwargs: Any) -> str:
        clip = make_clip(tmp / name, **kwargs)
        uri = S3Uri(BUCKET, f"uploads/{name}")
        assert self.objects.put(uri, clip)
        return str(uri)


@pytest.fixture(scope="module")
def env(kube_cluster: KubeCluster) -> Iterator[Env]:
    prepare_platform(kube_cluster)
    namespace = kube_cluster.create_namespace("ops3")
    kube_cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    s3 = ClusterS3(kube_cluster, namespace)
    try:
        s3.start(BUCKET)
        settings = operator_env(kube_cluster, namespace, Path("/nonexistent"), free_port())
        settings |= s3.operator_env | {
            "HLSFORGE_MEDIA_PVC": "",
            "HLSFORGE_OUTPUT_RETENTION": "Delete",
            "HLSFORGE_S3_BUCKET": BUCKET,
        }
        operator = OperatorProcess(settings, ARTIFACTS / f"operator-{namespace}.log").start()
        try:
            api = Api(kube_cluster.kubeconfig, namespace)
            yield Env(kube_cluster, namespace, api, s3, s3.objects(), operator)
        finally:
            operator.stop()
    finally:
        s3.stop()


def test_s3_job_succeeds_deletes_the_source_and_its_output_goes_with_the_cr(
    env: Env, tmp_path: Path
) -> None:
    source = env.put_clip(tmp_path, "ok.mp4", seconds=6, size="640x360")
    output = S3Uri(BUCKET, "hls/ok")
    env.api.create_tj("ok", source=source, output=str(output), renditions=LADDER)
    status = env.wait_phase("ok", {"Succeeded", "Failed"})
    assert status["phase"] == "Succeeded", status

    (pod,) = env.api.pods()
    volumes = {v.name for v in pod.spec.volumes}
    assert volumes == {"scratch", "publisher"}  # S3 only: no media volume in the pod
    (container,) = pod.spec.containers
    assert not [e.name for e in container.env if e.name.startswith("AWS_")]
    (publisher,) = pod.spec.init_containers  # the keys are the publisher's alone
    keys = {e.name: e for e in publisher.env if e.name.startswith("AWS_")}
    assert keys["AWS_SECRET_ACCESS_KEY"].value is None  # by Secret reference only
    assert keys["AWS_SECRET_ACCESS_KEY"].value_from.secret_key_ref.name == SECRET

    # No key and no presigned URL in what the operator or the pod printed.
    pod_log = env.cluster.kubectl("logs", "-n", env.namespace, pod.metadata.name).stdout
    publisher_log = env.cluster.kubectl(
        "logs", "-n", env.namespace, pod.metadata.name, "-c", "publisher"
    ).stdout
    for text in (pod_log, publisher_log, env.operator.log_tail(10_000)):
        assert env.s3.secret_key not in text and "X-Amz-Signature" not in text
    assert '"event":"publishing"' in pod_log

    found = verify_committed(env.objects, output)
    assert found is not None
    root, manifest = found
    assert status["outputs"]["masterPlaylist"] == f"{root}/master.m3u8"
    assert [r["name"] for r in status["outputs"]["renditions"]] == ["180p"]
    wait_for(
        "the source object to be deleted",
        lambda: env.api.status("ok").get("sourceDeleted") or None,
        timeout=30,
    )
    assert env.objects.size(S3Uri(BUCKET, "uploads/ok.mp4")) is None

    local = tmp_path / "played"
    for rel in [*manifest["files"], "manifest.json"]:
        target = local / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(env.objects.read(root.child(rel)))
    assert decode_errors(local / "master.m3u8", "0:v:0") == ""

    env.api.delete_tj("ok")
    wait_for("the CR to go", lambda: env.api.tj("ok") is None or None, timeout=60)
    assert list(env.objects.listing(output)) == []  # retention Delete


def test_invalid_s3_source_fails_keeps_the_source_and_commits_nothing(
    env: Env, tmp_path: Path
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 500)
    source = S3Uri(BUCKET, "uploads/notes.mp4")
    env.objects.put(source, text)
    env.api.create_tj("bad", source=str(source), output=f"s3://{BUCKET}/hls/bad")
    status = env.wait_phase("bad", {"Succeeded", "Failed"})
    assert status["phase"] == "Failed" and status["reason"] == "InvalidInput", status
    assert env.objects.size(source) == text.stat().st_size
    output = S3Uri(BUCKET, "hls/bad")
    assert [o.key for o in env.objects.listing(output)] == []
    assert env.objects.size(output.child(COMMIT)) is None


def test_volume_path_on_an_s3_only_platform_is_invalid_spec(env: Env) -> None:
    env.api.create_tj("vol", source="uploads/a.mp4", output="hls/a")
    status = env.wait_phase("vol", {"Failed", "Succeeded"}, timeout=30)
    assert status["reason"] == "InvalidSpec" and "s3://" in status["message"], status
    assert env.api.jobs() == [] or all(j.metadata.name != "vol-transcode" for j in env.api.jobs())


def _objects(env: Env, prefix: S3Uri) -> dict[str, str | None]:
    return {o.key: env.objects.sha256(S3Uri(BUCKET, o.key)) for o in env.objects.listing(prefix)}


def test_s3_jobs_touch_only_their_own_objects(env: Env, tmp_path: Path) -> None:
    """Issue 11's attacks on S3: each is refused before any pod, with the rule it broke, and
    deleting the refused jobs (retention Delete here) leaves the victim's objects as they were."""
    victim = S3Uri(BUCKET, "hls/victim")
    source = env.put_clip(tmp_path, "victim.mp4", seconds=2, size="320x180")
    env.api.create_tj("victim", source=source, output=str(victim), renditions=LADDER)
    assert env.wait_phase("victim", {"Succeeded", "Failed"})["phase"] == "Succeeded"
    before = _objects(env, victim)
    segment = next(k for k in before if k.endswith(".ts"))
    shared = env.put_clip(tmp_path, "shared.mp4", seconds=1, size="160x90")
    env.api.create_tj("owner", source=shared, output=f"s3://{BUCKET}/hls/owner", renditions=LADDER)
    wait_for("owner to claim", lambda: env.api.status("owner").get("phase"), timeout=30)
    attacks = {
        "steal": (f"s3://{BUCKET}/{segment}", f"s3://{BUCKET}/hls/steal", "InvalidSpec",
                  "outside the sources area"),
        "bucket": ("s3://elsewhere/uploads/a.mp4", f"s3://{BUCKET}/hls/b", "InvalidSpec",
                   "allowed buckets: media"),
        "same": (env.put_clip(tmp_path, "same.mp4", seconds=1), str(victim), "OutputConflict",
                 "is claimed by TranscodeJob"),
        "inside": (env.put_clip(tmp_path, "in.mp4", seconds=1), f"{victim}/v1", "OutputConflict",
                   "lies inside 'hls/victim'"),
        "twice": (shared, f"s3://{BUCKET}/hls/twice", "SourceConflict", "claimed by"),
    }  # fmt: skip
    for name, (src, out, _, _) in attacks.items():
        env.api.create_tj(name, source=src, output=out, renditions=LADDER)
    for name, (_, _, reason, words) in attacks.items():
        status = env.wait_phase(name, {"Succeeded", "Failed"}, timeout=60)
        assert status["reason"] == reason and words in status["message"], (name, status)
        assert f"{name}-transcode" not in [j.metadata.name for j in env.api.jobs()]
    for name in attacks:
        env.api.delete_tj(name)
    wait_for(
        "the refused jobs to go", lambda: all(env.api.tj(n) is None for n in attacks) or None, 60
    )
    assert _objects(env, victim) == before
    assert env.wait_phase("owner", {"Succeeded", "Failed"})["phase"] == "Succeeded"
    wait_for(
        "the owner to delete its source",
        lambda: env.api.status("owner").get("sourceDeleted") or None,
        timeout=30,
    )
    assert env.objects.size(S3Uri(BUCKET, "uploads/same.mp4")) is not None  # refused: kept


SCAN = r"""
import hashlib, json, os
seen = {}
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
    try:
        raw = open(f"/proc/{pid}/environ", "rb").read()
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:300]
    except OSError as exc:
        seen[pid] = {"error": exc.strerror}
        continue
    pairs = [i.split("=", 1) for i in raw.decode(errors="replace").split("\0") if "=" in i]
    seen[pid] = {"cmd": cmd, "env": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in pairs}}
print(json.dumps(seen))
"""
"""Every process the transcoder container can see, with its environment as name -> SHA-256
of the value (so no value, and no key, is ever printed)."""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_s3_transcoder_container_holds_no_key_seen_from_inside(env: Env, tmp_path: Path) -> None:
    """While a job runs, from inside its transcoder container: no process there (the engine,
    ffmpeg, ffprobe, the shell we exec) has an AWS or S3 variable or the key's value in its
    environment, and the publisher's processes are not even visible. The publisher container,
    as the control, has the key."""
    source = env.put_clip(tmp_path, "inside.mp4", seconds=20, size="640x360")
    output = S3Uri(BUCKET, "hls/inside")
    slow = {"limits": {"cpu": "150m"}}  # a run long enough to look inside while it encodes
    env.api.create_tj("inside", source=source, output=str(output), renditions=LADDER,
                      resources=slow)  # fmt: skip
    scan: dict[str, Any] | None = None
    deadline = time.monotonic() + 180
    while scan is None:
        assert time.monotonic() < deadline, "the transcoder container never ran"
        assert env.api.status("inside").get("phase") not in ("Succeeded", "Failed"), (
            "the job ended before it could be looked at"
        )
        pods = env.api.pods("hlsforge.io/transcodejob=inside")
        running = [
            p for p in pods
            for c in p.status.container_statuses or []
            if c.name == "transcoder" and c.state.running
        ]  # fmt: skip
        if not running:
            time.sleep(0.5)
            continue
        pod = running[0].metadata.name
        done = env.cluster.kubectl("exec", "-n", env.namespace, pod, "-c", "transcoder", "--",
                                   "python3", "-c", SCAN, check=False)  # fmt: skip
        if done.returncode == 0:
            scan = json.loads(done.stdout)
            control = env.cluster.kubectl("exec", "-n", env.namespace, pod, "-c", "publisher",
                                          "--", "python3", "-c", SCAN)  # fmt: skip
            for _ in range(20):  # look again until ffmpeg is caught too (or the run ends)
                if "ffmpeg" in json.dumps(scan):
                    break
                again = env.cluster.kubectl("exec", "-n", env.namespace, pod, "-c", "transcoder",
                                            "--", "python3", "-c", SCAN, check=False)  # fmt: skip
                if again.returncode != 0:
                    break
                scan |= {f"{pid}@{len(scan)}": p for pid, p in json.loads(again.stdout).items()}
    readable = {pid: p for pid, p in scan.items() if "env" in p}
    commands = " | ".join(p["cmd"] for p in readable.values())
    assert "hlsforge_transcoder" in commands, scan  # the engine itself was read, running
    assert len(readable) >= 2, scan  # the engine and this scan, at least
    secret, access = _sha(env.s3.secret_key), _sha(env.s3.access_key)
    for pid, process in readable.items():
        names = [n for n in process["env"] if n.startswith(("AWS_", "HLSFORGE_S3_"))]
        assert names == [], (pid, process["cmd"], names)
        assert not {secret, access} & set(process["env"].values()), (pid, process["cmd"])
    assert "publisher" not in commands  # the sidecar's processes are not visible here
    # Control: in the publisher container the same scan finds the key (so the scan works).
    publisher = json.loads(control.stdout)
    assert any(
        p.get("env", {}).get("AWS_SECRET_ACCESS_KEY") == secret for p in publisher.values()
    ), "the control found no key in the publisher container"

    status = env.wait_phase("inside", {"Succeeded", "Failed"}, timeout=300)
    assert status["phase"] == "Succeeded", status  # the sidecar did not hold the Job open
    assert verify_committed(env.objects, output) is not None
    (job,) = [j for j in env.api.jobs() if j.metadata.name == "inside-transcode"]
    assert job.status.succeeded == 1


def test_s3_download_mode_publisher_and_transcoder_share_only_the_scratch(
    env: Env, tmp_path: Path
) -> None:
    """``source_access: download`` on the real cluster: the publisher (uid 10002) downloads
    into the transcoder's (uid 10001) scratch folder through the pod's fsGroup, and reads the
    finished output back from it. The Job is the operator's own ``build_job`` (download mode is
    an operator-wide setting, so it is applied here directly, without an owner)."""
    source = env.put_clip(tmp_path, "download.mp4", seconds=2, size="320x180")
    output = S3Uri(BUCKET, "hls/download")
    given = env.operator.env
    fields = {k.removeprefix("HLSFORGE_").lower(): v for k, v in given.items()}
    settings = OperatorSettings.model_validate(
        {k: v for k, v in fields.items() if k in OperatorSettings.model_fields}
    )
    s3 = S3Config.from_env(given | {"HLSFORGE_S3_SOURCE_ACCESS": "download"})
    spec = TranscodeJobSpec.model_validate(
        {"source": source, "output": str(output), "renditions": LADDER}
    )
    job = jobspec.build_job("download", env.namespace, "no-owner", spec, settings, s3)
    del job["metadata"]["ownerReferences"]
    job["metadata"]["labels"] = job["spec"]["template"]["metadata"]["labels"] = {"test": "download"}
    env.cluster.kubectl("apply", "-n", env.namespace, "-f", "-", stdin=json.dumps(job))
    job_ref = "job/download-transcode"
    done = env.cluster.kubectl(
        "wait", "-n", env.namespace, job_ref, "--for=condition=Complete", "--timeout=180s",
        check=False,
    )  # fmt: skip
    logs = env.cluster.kubectl(
        "logs", "-n", env.namespace, job_ref, "--all-containers", "--prefix", check=False
    ).stdout
    assert done.returncode == 0, logs
    assert "source: downloaded" in logs  # the publisher downloaded it, as uid 10002
    final = json.loads(
        [line for line in logs.splitlines() if '"event":"done"' in line][-1].split(" ", 1)[1]
    )
    assert final["committed"] is True
    assert verify_committed(env.objects, output) is not None
    assert env.s3.secret_key not in logs and "X-Amz-Signature" not in logs
