"""The chart on the real local cluster: server-side dry runs, then a real install that uploads
through the uploader Service, transcodes in a pod of the transcoder image under the
`restricted` Pod Security Standard, plays the HLS back, passes `helm test`, proves RBAC denials,
and leaves nothing behind on uninstall.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3_commit import verify_committed
from tests.helm.chart import CHART, CI_VALUES, REPO
from tests.integration.conftest import KubeCluster
from tests.integration.harness import PortForward, free_port, make_clip, wait_for
from tests.integration.s3_cluster import SECRET as S3_SECRET
from tests.integration.s3_cluster import ClusterS3
from tests.integration.test_uploader_harness import stream_until_answer

pytestmark = pytest.mark.cluster
TAG = "helmtest"
RELEASE = "hf"
FULLNAME = "hf-hlsforge"
MEDIA_ROOT = Path("/var/lib/hlsforge-media")


def restricted_namespace(cluster: KubeCluster, prefix: str) -> str:
    ns = cluster.create_namespace(prefix)
    cluster.kubectl(
        "label",
        "namespace",
        ns,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    return ns


@pytest.fixture(scope="module")
def images(kube_cluster: KubeCluster) -> str:
    """Both images built the local way (wheelhouse on the host, local base) into the node."""
    started = time.monotonic()
    script = str(REPO / "hack" / "platform.py")
    done = subprocess.run(
        [sys.executable, script, "images", "--tag", TAG, "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"images built in {time.monotonic() - started:.0f}s\n{done.stderr}")
    return TAG


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_rendered_chart_passes_a_server_side_dry_run(
    kube_cluster: KubeCluster, values_file: Path
) -> None:
    ns = restricted_namespace(kube_cluster, "hdry")
    rendered = kube_cluster.helm(
        "template", RELEASE, str(CHART), "--namespace", ns, "--values", str(values_file)
    ).stdout
    done = kube_cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered, check=False)
    assert done.returncode == 0, done.stderr
    # Deployments are only warned about (their pods would be refused): no warning at all.
    assert "PodSecurity" not in done.stderr, done.stderr
    assert "created (server dry run)" in done.stdout


def test_notes_tell_how_to_upload_and_play(kube_cluster: KubeCluster) -> None:
    ns = restricted_namespace(kube_cluster, "hnotes")
    done = kube_cluster.helm("install", RELEASE, str(CHART), "-n", ns, "--dry-run=server")
    notes = done.stdout.split("NOTES:", 1)[1]
    for needle in (
        "hlsforge upload",
        "HLSFORGE_TOKEN",
        f"port-forward svc/{FULLNAME}-uploader",
        "/ui/",
        "master.m3u8",
        f"helm test {RELEASE}",
    ):
        assert needle in notes, needle
    s3 = kube_cluster.helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        ns,
        "--dry-run=server",
        "--values",
        str(CHART / "ci" / "s3-values.yaml"),
    )
    assert "s3://hlsforge-media-example/prod/uploads/talk.mp4" in s3.stdout
    assert "not implemented" not in s3.stdout


def uploader_forward(cluster: KubeCluster, namespace: str) -> PortForward:
    """The uploader Service on a free 127.0.0.1 port."""
    return PortForward(cluster, namespace, f"svc/{FULLNAME}-uploader", 80)


def get(url: str, token: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as rsp:  # noqa: S310 - 127.0.0.1
            return rsp.status, dict(rsp.headers), rsp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def answers(url: str, token: str) -> bool:
    try:
        return get(url, token)[0] == 200
    except OSError:  # not listening yet
        return False


def can_i(cluster: KubeCluster, sa: str, ns: str, *args: str) -> bool:
    done = cluster.kubectl(
        "auth", "can-i", *args, f"--as=system:serviceaccount:{ns}:{sa}", check=False
    )
    return done.stdout.strip() == "yes"


@contextlib.contextmanager
def installed(
    cluster: KubeCluster,
    tag: str,
    prefix: str,
    *sets: str,
    namespace: str | None = None,
    volume: bool = True,
) -> Iterator[str]:
    """The chart installed in a fresh restricted namespace (or ``namespace``) with the dev
    hostPath volume (unless ``volume`` is False: S3 mode); its TranscodeJobs deleted (while the
    operator runs), the release uninstalled and the media folder removed on exit, whatever the
    test did."""
    ns = namespace or restricted_namespace(cluster, prefix)
    media = MEDIA_ROOT / ns
    media.mkdir(parents=True, exist_ok=True)
    os.chown(media, 10001, 10001)
    argv = ["install", RELEASE, str(CHART), "-n", ns, "--wait", "--timeout", "8m"]
    storage = ["storage.pvc.devHostPath.enabled=true", f"storage.pvc.devHostPath.path={media}"]
    for value in (
        f"images.platform.tag={tag}",
        f"images.transcoder.tag={tag}",
        *(storage if volume else []),
        "operator.verbose=true",
        *sets,
    ):
        argv += ["--set", value]
    started = time.monotonic()
    try:
        cluster.helm(*argv, timeout=600)
        print(f"helm install --wait took {time.monotonic() - started:.0f}s")
        yield ns
    finally:
        cluster.kubectl("delete", "tj", "--all", "-n", ns, "--wait", "--timeout=120s", check=False)
        cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
        # The media claim and the dev volume are kept on uninstall (resource-policy keep).
        cluster.kubectl("delete", "pvc", "--all", "-n", ns, "--wait=false", check=False)
        cluster.kubectl("delete", "pv", f"{ns}-{FULLNAME}-media", "--wait=false", check=False)
        shutil.rmtree(media, ignore_errors=True)


@pytest.fixture
def release(kube_cluster: KubeCluster, images: str) -> Iterator[str]:
    with installed(kube_cluster, images, "hchart") as ns:
        yield ns


def read_token(cluster: KubeCluster, ns: str) -> str:
    secret = cluster.get_json("secret", f"{FULLNAME}-token", "-n", ns)
    return base64.b64decode(secret["data"]["token"]).decode()


def upload(forward: PortForward, token: str, clip: Path) -> str:
    """`hlsforge upload --wait` through the port-forward; returns the job id once Succeeded."""
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "hlsforge"), "upload", str(clip), "--wait", "--json"],
        env={**os.environ, "HLSFORGE_URL": forward.url, "HLSFORGE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and events[-1]["event"] == "done", done.stdout + done.stderr
    job_id: str = events[-1]["id"]
    return job_id


def peers(cluster: KubeCluster, ns: str) -> dict[str, dict[str, object]]:
    status = cluster.get_json("kopfpeering", "hlsforge", "-n", ns).get("status") or {}
    return {k: v for k, v in status.items() if isinstance(v, dict)}


def test_install_upload_play_helm_test_rbac_and_uninstall(
    kube_cluster: KubeCluster, release: str, tmp_path: Path
) -> None:
    ns = release
    token = read_token(kube_cluster, ns)
    assert len(token) == 40

    # Two operator replicas peer: both appear in the KopfPeering, exactly one is active.
    wait_for("two operator peers", lambda: len(peers(kube_cluster, ns)) == 2, timeout=90)

    forward = uploader_forward(kube_cluster, ns)
    try:
        wait_for(
            "the uploader through port-forward",
            lambda: answers(f"{forward.url}/v1/jobs", token),
            timeout=60,
        )
        assert get(f"{forward.url}/v1/jobs", "wrong-token")[0] == 401
        clip = make_clip(tmp_path / "clip.mp4", seconds=3)
        started = time.monotonic()
        job_id = upload(forward, token, clip)
        print(f"upload -> Succeeded in {time.monotonic() - started:.1f}s")

        # The HLS plays back through the uploader: master -> media playlist -> a segment.
        status, headers, body = get(f"{forward.url}/v1/jobs/{job_id}/hls/master.m3u8", token)
        assert status == 200 and headers["content-type"] == "application/vnd.apple.mpegurl"
        master = body.decode()
        variants = [ln for ln in master.splitlines() if ln and not ln.startswith("#")]
        assert master.startswith("#EXTM3U") and variants, master
        folder = variants[0].rsplit("/", 1)[0]
        status, _, body = get(f"{forward.url}/v1/jobs/{job_id}/hls/{variants[0]}", token)
        media = body.decode()
        segments = [ln for ln in media.splitlines() if ln and not ln.startswith("#")]
        assert status == 200 and segments, media
        status, headers, body = get(
            f"{forward.url}/v1/jobs/{job_id}/hls/{folder}/{segments[0]}", token
        )
        assert (
            status == 200
            and len(body) > 1000
            and headers["content-type"]
            in (
                "video/mp2t",
                "video/mp4",
            )
        )
    finally:
        forward.stop()

    # The transcode ran in a pod of the transcoder image, admitted under `restricted`, with the
    # chart's token-less ServiceAccount.
    pods = kube_cluster.get_json("pods", "-n", ns, "-l", f"hlsforge.io/transcodejob={job_id}")
    assert pods["items"], "no transcode pod"
    pod = pods["items"][0]
    assert pod["spec"]["containers"][0]["image"] == f"hlsforge/transcoder:{TAG}"
    assert pod["spec"]["serviceAccountName"] == f"{FULLNAME}-transcoder"
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["status"]["phase"] == "Succeeded"
    labels = kube_cluster.get_json("namespace", ns)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    # helm test: its own clip, through the Service, with the real CLI, waits for Succeeded.
    started = time.monotonic()
    test = kube_cluster.helm("test", RELEASE, "-n", ns, "--timeout", "6m", timeout=420)
    assert "Phase:          Succeeded" in test.stdout, test.stdout
    print(f"helm test took {time.monotonic() - started:.1f}s")

    # An upgrade keeps the generated token (lookup) and the operator pods never restarted
    # (liveness probes pass on the active and the standby replica alike).
    kube_cluster.helm(
        "upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values", "--wait", timeout=400
    )
    assert read_token(kube_cluster, ns) == token
    operators = kube_cluster.get_json(
        "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator"
    )["items"]
    assert len(operators) == 2
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in operators)

    # RBAC: what the operator did above worked with the chart's ServiceAccount and nothing
    # it was refused is in its log; what it must not do is denied by the API server.
    operator_sa, uploader_sa = f"{FULLNAME}-operator", f"{FULLNAME}-uploader"
    services = "app.kubernetes.io/component in (operator,uploader)"
    pod_names = kube_cluster.kubectl("get", "pods", "-n", ns, "-l", services, "-o", "name")
    assert len(pod_names.stdout.split()) == 3
    for pod_name in pod_names.stdout.split():
        log = kube_cluster.kubectl("logs", "-n", ns, pod_name).stdout
        assert "Forbidden" not in log and "forbidden" not in log, log[-3000:]
    as_operator = ["--as", f"system:serviceaccount:{ns}:{operator_sa}"]
    denied = kube_cluster.kubectl("get", "secrets", "-n", ns, *as_operator, check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
    denied = kube_cluster.kubectl("get", "tj", "-n", "default", *as_operator, check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
    assert kube_cluster.kubectl("get", "tj", "-n", ns, *as_operator).returncode == 0
    assert not can_i(kube_cluster, operator_sa, ns, "create", "jobs", "-n", "default")
    assert not can_i(kube_cluster, operator_sa, ns, "delete", "transcodejobs", "-n", ns)
    assert not can_i(kube_cluster, operator_sa, ns, "create", "pods", "-n", ns)
    assert can_i(kube_cluster, uploader_sa, ns, "create", "transcodejobs", "-n", ns)
    assert not can_i(kube_cluster, uploader_sa, ns, "get", "secrets", "-n", ns)
    assert not can_i(kube_cluster, uploader_sa, ns, "create", "jobs", "-n", ns)
    assert not can_i(kube_cluster, f"{FULLNAME}-transcoder", ns, "get", "pods", "-n", ns)

    # Uninstall with a TranscodeJob still there: the pre-delete hook deletes it while the
    # operator runs (its finalizer stops the Job); no pods, Jobs, ServiceAccounts or RBAC are
    # left; the media claim and volume are kept on purpose; the CRD stays.
    assert kube_cluster.get_json("tj", "-n", ns)["items"]
    started = time.monotonic()
    kube_cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", "--timeout", "5m", timeout=400)
    print(f"helm uninstall took {time.monotonic() - started:.1f}s")
    assert not kube_cluster.get_json("tj", "-n", ns)["items"]

    def nothing_left() -> bool:
        left = kube_cluster.kubectl(
            "get",
            "pods,jobs,roles,rolebindings,deployments,services,secrets,kopfpeerings",
            "-n",
            ns,
            "-o",
            "name",
        ).stdout.split()
        return not left

    wait_for("no namespaced leftovers", nothing_left, timeout=120)
    sas = kube_cluster.kubectl("get", "sa", "-n", ns, "-o", "name").stdout.split()
    assert sas == ["serviceaccount/default"]
    cluster_scoped = kube_cluster.kubectl(
        "get", "clusterroles,clusterrolebindings", "-o", "name"
    ).stdout
    assert ns not in cluster_scoped
    pvc = kube_cluster.get_json("pvc", f"{FULLNAME}-media", "-n", ns)
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert kube_cluster.kubectl("get", "crd", "transcodejobs.hlsforge.io").returncode == 0


def operator_log(cluster: KubeCluster, ns: str, pod: str) -> str:
    return cluster.kubectl("logs", "-n", ns, pod, check=False).stdout


def peering_state(log: str) -> str:
    """The replica's last peering transition in its log: "active" or "paused" (kopf starts
    paused and says nothing until something changes)."""
    state = "paused"
    for line in log.splitlines():
        if "Resuming operations after the pause" in line:
            state = "active"
        elif "Pausing operations in favour of" in line:
            state = "paused"
    return state


def test_standby_operator_takes_over_when_the_active_one_dies(
    kube_cluster: KubeCluster, images: str, tmp_path: Path
) -> None:
    with installed(kube_cluster, images, "hhand", "operator.peeringLifetime=10") as ns:

        def two_peers() -> dict[str, dict[str, object]] | None:
            found = peers(kube_cluster, ns)
            return found if len(found) == 2 else None

        both = wait_for("two operator peers", two_peers, timeout=90)
        # Identities are pod names (POD_ID); the highest priority is the active replica.
        active, standby = sorted(both, key=lambda k: int(str(both[k]["priority"])), reverse=True)
        # kopf starts paused; it logs "Resuming operations" when no live peer outranks it and
        # "Pausing operations in favour of" when one appears (start order decides which it saw).
        wait_for(
            "the active replica to act and the standby to pause",
            lambda: (
                peering_state(operator_log(kube_cluster, ns, active)) == "active"
                and peering_state(operator_log(kube_cluster, ns, standby)) == "paused"
            ),
            timeout=60,
        )
        killed = time.monotonic()
        kube_cluster.kubectl(
            "delete", "pod", "-n", ns, active, "--grace-period=0", "--force", "--wait=false"
        )
        wait_for(
            "the standby to resume",
            lambda: peering_state(operator_log(kube_cluster, ns, standby)) == "active",
            timeout=90,
        )
        print(f"hand-over after {time.monotonic() - killed:.1f}s")
        # ... and work goes on (the standby, or the replacement pod if it outranks it).
        forward = uploader_forward(kube_cluster, ns)
        try:
            token = read_token(kube_cluster, ns)
            wait_for("the uploader", lambda: answers(f"{forward.url}/v1/jobs", token), 60)
            upload(forward, token, make_clip(tmp_path / "clip.mp4", seconds=2))
        finally:
            forward.stop()


def test_cluster_wide_rbac_reaches_other_namespaces_but_not_secrets(
    kube_cluster: KubeCluster,
) -> None:
    """Only the RBAC objects of cluster-wide mode are applied (a cluster-wide operator would act
    on the TranscodeJobs of every test running on this shared cluster)."""
    ns = restricted_namespace(kube_cluster, "hcw")
    other = kube_cluster.create_namespace("hcwo")
    release = f"cw{os.getpid()}"  # cluster-scoped names are unique to this test
    rendered = kube_cluster.helm(
        "template",
        release,
        str(CHART),
        "-n",
        ns,
        "--set",
        "rbac.clusterWide=true",
        "--show-only",
        "templates/rbac-operator.yaml",
        "--show-only",
        "templates/serviceaccount.yaml",
    ).stdout
    kube_cluster.kubectl("apply", "-n", ns, "-f", "-", stdin=rendered)
    try:
        sa = f"{release}-hlsforge-operator"
        assert can_i(kube_cluster, sa, ns, "watch", "transcodejobs", "-n", other)
        assert can_i(kube_cluster, sa, ns, "create", "jobs", "-n", other)
        assert can_i(kube_cluster, sa, ns, "patch", "clusterkopfpeerings")
        assert not can_i(kube_cluster, sa, ns, "get", "secrets", "-n", other)
        assert not can_i(kube_cluster, sa, ns, "create", "pods", "-n", other)
        as_operator = ["--as", f"system:serviceaccount:{ns}:{sa}"]
        assert kube_cluster.kubectl("get", "tj", "-n", other, *as_operator).returncode == 0
        denied = kube_cluster.kubectl("get", "secrets", "-n", other, *as_operator, check=False)
        assert "Forbidden" in denied.stderr, denied.stderr
    finally:
        kube_cluster.kubectl("delete", "-n", ns, "-f", "-", stdin=rendered, check=False)


def test_make_up_env_down(kube_cluster: KubeCluster, images: str) -> None:
    """The quickstart's commands on a side namespace (the cluster is up, so `down` keeps it)."""
    ns = f"hmk-{os.getpid()}"
    env = {
        **os.environ,
        "HLSFORGE_LOCAL_NAMESPACE": ns,
        "HLSFORGE_LOCAL_PORT": str(free_port()),
        "HLSFORGE_IMAGE_TAG": images,
    }
    make = ["make", "-s", "-C", str(REPO)]
    url, token = "http://127.0.0.1:1", ""
    try:
        started = time.monotonic()
        up = subprocess.run(
            [*make, "up"], env=env, capture_output=True, text=True, timeout=1800, check=False
        )
        assert up.returncode == 0, up.stdout + up.stderr[-3000:]
        print(f"make up: {time.monotonic() - started:.0f}s\n{up.stdout}")
        assert "/ui/" in up.stdout and "token:" in up.stdout
        lines = subprocess.run(
            [*make, "env"], env=env, capture_output=True, text=True, timeout=120, check=True
        ).stdout.splitlines()
        assert len(lines) == 2, lines
        assert lines[0].startswith("export HLSFORGE_URL=http://127.0.0.1:")
        assert lines[1].startswith("export HLSFORGE_TOKEN=")
        url = lines[0].split("=", 1)[1]
        token = lines[1].split("=", 1)[1]
        assert answers(f"{url}/v1/jobs", token)
        assert get(f"{url}/ui/static/vendor/hls.min.js", token)[0] == 200  # the bundle
    finally:
        down = subprocess.run(
            [*make, "down"], env=env, capture_output=True, text=True, timeout=600, check=False
        )
    assert down.returncode == 0, down.stderr
    assert kube_cluster.kubectl("get", "namespace", ns, check=False).returncode != 0
    assert not (MEDIA_ROOT / ns).exists()
    assert not answers(f"{url}/v1/jobs", token)  # the port-forward is gone


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


# -- the prober: uploads probed where no credential is ---------------------------------------

# What a payload inside ffprobe could look for, run as python3 in each container.
LOOK_AROUND = r"""
import json, os
def env_of(pid):
    try:
        raw = open(f"/proc/{pid}/environ", "rb").read()
    except OSError as exc:
        return f"unreadable: {exc}"
    return sorted(k.split(b"=", 1)[0].decode() for k in raw.split(b"\0") if k)
def readable(path):
    try:
        with open(path, "rb") as handle:
            return len(handle.read(1 << 16))
    except OSError as exc:
        return f"{type(exc).__name__}"
mounts = [line.split()[1] for line in open("/proc/self/mounts")]
cmdlines = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            cmdlines.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode())
        except OSError:
            pass
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "sa_token": readable("/var/run/secrets/kubernetes.io/serviceaccount/token"),
    "sa_dir": os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount"),
    "api_token": readable("/var/run/hlsforge/token/token"),
    "pid1_env": env_of(1),
    "exec_env": sorted(os.environ),
    "pid1_fds": readable("/proc/1/fd/0") if os.path.exists("/proc/1/fd") else "none",
    "data": os.path.exists("/data"),
    "mounts": mounts,
    "processes": cmdlines,
}))
"""


def uploader_pod_name(cluster: KubeCluster, ns: str) -> str:
    selector = "app.kubernetes.io/component=uploader"
    pods = cluster.get_json("pods", "-n", ns, "-l", selector)["items"]
    assert len(pods) == 1
    name: str = pods[0]["metadata"]["name"]
    return name


def look_around(cluster: KubeCluster, ns: str, pod: str, container: str) -> dict[str, Any]:
    done = cluster.kubectl(
        "exec", "-n", ns, pod, "-c", container, "--", "python3", "-c", LOOK_AROUND
    )
    seen: dict[str, Any] = json.loads(done.stdout)
    print(f"{container}: {json.dumps(seen)}")
    return seen


@contextlib.contextmanager
def serving_uploader(cluster: KubeCluster, ns: str, token: str) -> Iterator[PortForward]:
    """The uploader Service port-forwarded, once it answers an authenticated request."""
    forward = uploader_forward(cluster, ns)
    try:
        wait_for("the uploader", lambda: answers(f"{forward.url}/v1/jobs", token), timeout=60)
        yield forward
    finally:
        forward.stop()


def post_file(url: str, token: str, path: Path) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
        f"{url}/v1/uploads",
        data=path.read_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as rsp:  # noqa: S310
            return rsp.status, json.loads(rsp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


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
        assert "HLSFORGE_TOKEN_FILE" in uploader["exec_env"]  # the control
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
