"""Where media live in the rendered chart (no cluster): the storage areas, volume and S3 modes,
the transcoder's network policy, and what uninstall keeps."""

from __future__ import annotations

import pytest

from tests.helm.chart import (
    S3,
    env_of,
    find,
    one,
    render,
)


@pytest.mark.parametrize("cluster_wide", [False, True])
@pytest.mark.parametrize("values", [{}, {**S3, "storage.s3.prefix": "site/"}], ids=["pvc", "s3"])
def test_operator_and_uploader_agree_on_the_storage_areas(
    values: dict[str, str], cluster_wide: bool
) -> None:
    docs = render({**values, "rbac.clusterWide": str(cluster_wide).lower()})
    operator = env_of(one(docs, "Deployment", "operator"))
    uploader = env_of(one(docs, "Deployment", "uploader"))
    prefix = values.get("storage.s3.prefix", "")
    assert operator["HLSFORGE_UPLOADS_DIR"] == f"{prefix}uploads"
    assert operator["HLSFORGE_OUTPUT_DIR"] == f"{prefix}hls"
    assert operator["HLSFORGE_CLAIMS_DIR"] == uploader["HLSFORGE_CLAIMS_DIR"]
    assert operator["HLSFORGE_CLAIMS_DIR"] == f"{prefix}.hlsforge/claims"
    assert operator["HLSFORGE_POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    # Cluster-wide, every namespace has its own folder in each area: the uploader's is "media".
    own = "/media" if cluster_wide else ""
    assert uploader["HLSFORGE_UPLOADS_DIR"] == f"{prefix}uploads{own}"
    assert uploader["HLSFORGE_OUTPUT_DIR"] == f"{prefix}hls{own}"


def test_pvc_storage_claims_read_write_many_with_the_chosen_class() -> None:
    default = one(render(), "PersistentVolumeClaim")
    assert default["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "storageClassName" not in default["spec"]  # the cluster's default class
    efs = one(render({"storage.pvc.storageClassName": "efs-sc"}), "PersistentVolumeClaim")
    assert efs["spec"]["storageClassName"] == "efs-sc"
    assert not find(render(), "PersistentVolume")
    for kind in ("operator", "uploader"):
        volumes = one(render(), "Deployment", kind)["spec"]["template"]["spec"]["volumes"]
        assert {
            "name": "media",
            "persistentVolumeClaim": {"claimName": "hf-hlsforge-media"},
        } in volumes


def test_dev_host_path_volume_binds_the_claim_and_is_off_by_default() -> None:
    docs = render(
        {"storage.pvc.devHostPath.enabled": "true", "storage.pvc.devHostPath.path": "/srv/m"}
    )
    pv = one(docs, "PersistentVolume")
    pvc = one(docs, "PersistentVolumeClaim")
    assert pv["spec"]["hostPath"] == {"path": "/srv/m", "type": "Directory"}
    assert pv["spec"]["claimRef"] == {"namespace": "media", "name": "hf-hlsforge-media"}
    assert (
        pvc["spec"]["volumeName"] == pv["metadata"]["name"]
        and pvc["spec"]["storageClassName"] == ""
    )
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"


def test_existing_claim_is_used_as_is() -> None:
    docs = render({"storage.pvc.existingClaim": "shared-media"})
    assert not find(docs, "PersistentVolumeClaim")
    assert env_of(one(docs, "Deployment", "operator"))["HLSFORGE_MEDIA_PVC"] == "shared-media"


def test_s3_mode_renders_bucket_settings_and_irsa_without_volumes_or_keys() -> None:
    docs = render(S3)
    assert not find(docs, "PersistentVolumeClaim") and not find(docs, "PersistentVolume")
    for kind in ("operator", "uploader"):
        deployment = one(docs, "Deployment", kind)
        env = env_of(deployment)
        assert env["HLSFORGE_STORAGE"] == "s3"
        assert env["HLSFORGE_S3_BUCKET"] == "media-bucket" and env["AWS_REGION"] == "eu-west-1"
        assert not any("KEY" in name for name in env), env
        assert "media" not in [v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]]
    for sa in [one(docs, "ServiceAccount", c) for c in ("operator", "uploader", "transcoder")]:
        assert sa["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/hlsforge"
        }
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 443}]
    operator_env = env_of(one(docs, "Deployment", "operator"))
    assert operator_env["HLSFORGE_MEDIA_PVC"] == ""  # S3 only: transcoder pods mount no volume
    assert "HLSFORGE_S3_CREDENTIALS_SECRET" not in operator_env


def test_s3_with_a_credentials_secret_refers_to_it_everywhere() -> None:
    docs = render(
        S3
        | {
            "storage.s3.roleArn": "",
            "storage.s3.credentialsSecret": "s3-keys",
            "storage.s3.endpoint": "http://minio.storage:9000",
            "storage.s3.addressing": "path",
            "storage.s3.prefix": "prod/",
            "networkPolicy.s3Ports": "{9000}",
        }
    )
    for kind in ("operator", "uploader"):
        container = one(docs, "Deployment", kind)["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "s3-keys", "key": key}
        assert env["HLSFORGE_S3_ENDPOINT"]["value"] == "http://minio.storage:9000"
        assert env["HLSFORGE_S3_ADDRESSING"]["value"] == "path"
        assert env["HLSFORGE_UPLOADS_DIR"]["value"] == "prod/uploads"
        assert env["HLSFORGE_OUTPUT_DIR"]["value"] == "prod/hls"
    operator_env = env_of(one(docs, "Deployment", "operator"))
    assert operator_env["HLSFORGE_S3_CREDENTIALS_SECRET"] == "s3-keys"  # noqa: S105 - a name
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 9000}]


def test_s3_mode_dns_goes_to_the_cluster_dns_pods_unless_told_otherwise() -> None:
    (_, dns) = one(render(S3), "NetworkPolicy")["spec"]["egress"]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    (_, dns) = one(render(S3 | {"networkPolicy.dnsEgress": "null"}), "NetworkPolicy")["spec"][
        "egress"
    ]
    assert "to" not in dns  # an empty list: port 53 anywhere


def test_transcoder_network_policy_denies_all_traffic_with_volume_storage() -> None:
    policy = one(render(), "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/component": "transcoder",
        "app.kubernetes.io/part-of": "hlsforge",
    }
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"] == [] and policy["spec"]["egress"] == []
    assert not find(render({"networkPolicy.enabled": "false"}), "NetworkPolicy")


def test_uninstall_hook_deletes_transcode_jobs_and_media_claims_are_kept() -> None:
    docs = render({"storage.pvc.devHostPath.enabled": "true"})
    hook = one(docs, "Job", "cleanup")
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    role = one(docs, "Role", "cleanup")
    assert role["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    assert role["rules"] == [
        {"apiGroups": ["hlsforge.io"], "resources": ["transcodejobs"], "verbs": ["list", "delete"]}
    ]
    for kind in ("PersistentVolumeClaim", "PersistentVolume"):
        assert one(docs, kind)["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    docs = render(
        {"cleanup.deleteTranscodeJobsOnUninstall": "false", "storage.pvc.keepOnUninstall": "false"}
    )
    assert (
        not find(docs, "Job")
        and "annotations" not in one(docs, "PersistentVolumeClaim")["metadata"]
    )
