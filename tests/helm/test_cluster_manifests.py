"""The chart's manifests on the real API server, without a running release: server-side dry
runs under the `restricted` Pod Security Standard, the NOTES, and cluster-wide RBAC."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helm.chart import CHART, CI_VALUES
from tests.helm.release import (
    FULLNAME,
    RELEASE,
    can_i,
    restricted_namespace,
)
from tests.integration.conftest import KubeCluster

pytestmark = pytest.mark.cluster


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
