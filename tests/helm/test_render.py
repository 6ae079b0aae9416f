"""The chart rendered by `helm template` (no cluster): one assertion group per conditional."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import (
    CHART,
    CI_VALUES,
    REPO,
    Doc,
    env_of,
    find,
    helm,
    named,
    one,
    pod_specs,
    render,
    render_error,
)

S3 = {
    "storage.mode": "s3",
    "storage.s3.bucket": "media-bucket",
    "storage.s3.region": "eu-west-1",
    "storage.s3.roleArn": "arn:aws:iam::123456789012:role/hlsforge",
}


def rules_of(docs: list[Doc]) -> list[tuple[str, dict[str, list[str]]]]:
    return [
        (d["metadata"]["name"], r)
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
        for r in d["rules"]
    ]


def test_lint_is_clean_in_strict_mode() -> None:
    for values in [[], *(["--values", str(f)] for f in CI_VALUES)]:
        done = helm("lint", "--strict", str(CHART), *values)
        assert "0 chart(s) failed" in done.stdout, done.stdout
        assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_every_ci_value_set_renders(values_file: Path) -> None:
    assert find(render(files=[values_file]), "Deployment")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"operator.replicas": "two"}, "at '/operator/replicas': got string, want integer"),
        ({"storage.mode": "nfs"}, "at '/storage/mode': value must be one of 'pvc', 's3'"),
        ({"storage.typo": "1"}, "additional properties 'typo' not allowed"),
        ({"storage.mode": "s3"}, "at '/storage/s3/bucket'"),
        ({"images.platform.pullPolicy": "Sometimes"}, "at '/images/platform/pullPolicy'"),
        ({"operator.replicas": "0"}, "at '/operator/replicas': minimum"),
        ({"storage.s3.roleArn": "not-an-arn"}, "at '/storage/s3/roleArn'"),
        ({"storage.s3.addressing": "sideways"}, "at '/storage/s3/addressing'"),
        ({"storage.s3.delivery": "carrier-pigeon"}, "at '/storage/s3/delivery'"),
        ({"storage.s3.prefix": "no-slash"}, "at '/storage/s3/prefix'"),
        ({"uploader.prober.uid": "10001"}, "at '/uploader/prober/uid'"),
        ({"uploader.prober.limits.cpuSeconds": "0"}, "at '/uploader/prober/limits/cpuSeconds'"),
        ({"uploader.prober.limits.addressSpaceBytes": "1024"}, "addressSpaceBytes"),
        ({"uploader.prober.maxConcurrent": "100"}, "at '/uploader/prober/maxConcurrent'"),
    ],
)
def test_a_bad_value_fails_with_a_schema_error_naming_it(
    values: dict[str, str], message: str
) -> None:
    err = render_error(values)
    assert "values don't meet the specifications of the schema" in err, err
    assert message in err, err


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    for name, spec in pod_specs(render()):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert "limits" in c["resources"] and "requests" in c["resources"], (name, c["name"])


def test_operator_runs_two_peering_replicas_and_is_wired_to_the_transcoder() -> None:
    docs = render({"images.transcoder.tag": "v9"})
    op = one(docs, "Deployment", "operator")
    assert op["spec"]["replicas"] == 2
    container = op["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python3", "-m", "hlsforge_operator"]
    assert "--standalone" not in container["args"]
    env = env_of(op)
    assert env["HLSFORGE_TRANSCODER_IMAGE"] == "hlsforge/transcoder:v9"
    assert env["HLSFORGE_TRANSCODER_SERVICE_ACCOUNT"] == "hf-hlsforge-transcoder"
    assert env["HLSFORGE_MEDIA_PVC"] == "hf-hlsforge-media"
    assert env["HLSFORGE_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    peering = one(docs, "KopfPeering")
    assert peering["metadata"] == {**peering["metadata"], "name": "hlsforge", "namespace": "media"}


def test_transcoder_service_account_has_no_token_and_no_rbac() -> None:
    docs = render()
    sa = one(docs, "ServiceAccount", "transcoder")
    assert sa["automountServiceAccountToken"] is False
    subjects = [s["name"] for d in docs if d["kind"].endswith("Binding") for s in d["subjects"]]
    assert subjects and "hf-hlsforge-transcoder" not in subjects


def test_namespaced_rbac_is_least_privilege() -> None:
    docs = render()
    assert not find(docs, "ClusterKopfPeering")
    # Namespaced data access only through Roles; the one ClusterRole reads the CRDs and the
    # namespaces (kopf's discovery, checked against the operator's log on the cluster).
    cluster_roles = find(docs, "ClusterRole")
    assert [r for cr in cluster_roles for r in cr["rules"]] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    ]
    for name, rule in rules_of(docs):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], name
        assert not {"secrets", "configmaps", "nodes"} & set(rule["resources"]), name
    operator = {
        res: set(rule["verbs"])
        for name, rule in rules_of(docs)
        if name == "hf-hlsforge-operator"
        for res in rule["resources"]
    }
    assert operator == {
        "transcodejobs": {"get", "list", "watch", "patch"},
        "transcodejobs/status": {"get", "patch"},
        "transcodejobs/finalizers": {"update"},
        "jobs": {"create", "get", "list", "watch", "delete"},
        "pods": {"get", "list", "watch"},
        "pods/log": {"get"},
        "events": {"create", "patch"},
        "kopfpeerings": {"get", "list", "watch", "patch"},
    }
    uploader = [r for n, r in rules_of(docs) if n == "hf-hlsforge-uploader"]
    assert uploader == [
        {
            "apiGroups": ["hlsforge.io"],
            "resources": ["transcodejobs"],
            "verbs": ["get", "list", "watch", "create", "delete"],
        }
    ]


def test_cluster_wide_mode_uses_cluster_roles_and_watches_all_namespaces() -> None:
    docs = render({"rbac.clusterWide": "true"})
    assert not find(docs, "Role", "operator")
    role = named(docs, "ClusterRole", "hf-hlsforge-operator")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "clusterkopfpeerings" in resources and "kopfpeerings" not in resources
    discovery = one(docs, "ClusterRole", "discovery")
    # kopf lists namespaces only when it serves named ones (not cluster-wide).
    assert {r for rule in discovery["rules"] for r in rule["resources"]} == {
        "customresourcedefinitions"
    }
    assert (
        named(docs, "ClusterRoleBinding", "hf-hlsforge-operator")["roleRef"]["kind"]
        == "ClusterRole"
    )
    assert "HLSFORGE_NAMESPACE" not in env_of(one(docs, "Deployment", "operator"))
    assert one(docs, "ClusterKopfPeering")["metadata"]["name"] == "hlsforge"
    # The uploader stays namespaced.
    assert one(docs, "Role", "uploader")["metadata"]["namespace"] == "media"


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


def test_token_secret_is_generated_given_or_taken_from_an_existing_secret() -> None:
    generated = base64.b64decode(one(render(), "Secret")["data"]["token"]).decode()
    assert len(generated) == 40 and generated.isalnum()
    assert generated != base64.b64decode(one(render(), "Secret")["data"]["token"]).decode()
    given = one(render({"auth.token": "s3cr3t-token"}), "Secret")
    assert base64.b64decode(given["data"]["token"]).decode() == "s3cr3t-token"
    docs = render({"auth.existingSecret": "my-token"})
    assert not find(docs, "Secret")
    volumes = one(docs, "Deployment", "uploader")["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "token",
        "secret": {"secretName": "my-token", "items": [{"key": "token", "path": "token"}]},
    } in volumes


def test_uploader_service_ingress_and_settings() -> None:
    docs = render({"uploader.service.type": "NodePort", "uploader.service.nodePort": "30080"})
    service = one(docs, "Service", "uploader")
    assert service["spec"]["ports"][0]["nodePort"] == 30080
    assert "app.kubernetes.io/component" in service["spec"]["selector"]
    assert "helm.sh/chart" not in service["spec"]["selector"]
    assert not find(docs, "Ingress")
    ingress = one(
        render({"uploader.ingress.enabled": "true", "uploader.ingress.host": "v.example"}),
        "Ingress",
    )
    assert ingress["spec"]["rules"][0]["host"] == "v.example"
    env = env_of(
        one(render({"uploader.corsOrigins[0]": "https://a.example"}), "Deployment", "uploader")
    )
    assert env["HLSFORGE_HOST"] == "0.0.0.0"  # noqa: S104 - in a pod, behind its Service
    assert env["HLSFORGE_TOKEN_FILE"] == "/var/run/hlsforge/token/token"  # noqa: S105
    assert env["HLSFORGE_CORS_ORIGINS"] == "https://a.example"
    assert env["HLSFORGE_MAX_UPLOAD_BYTES"] == "21474836480"


def test_service_monitors_are_optional() -> None:
    assert not find(render(), "ServiceMonitor")
    monitors = find(render({"metrics.serviceMonitor.enabled": "true"}), "ServiceMonitor")
    assert sorted(m["spec"]["endpoints"][0]["port"] for m in monitors) == ["http", "metrics"]


def test_helm_test_hook_uploads_through_the_service() -> None:
    pod = one(render(), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert (
        env["HLSFORGE_URL"]["value"]
        == "http://$(HF_HLSFORGE_UPLOADER_SERVICE_HOST):$(HF_HLSFORGE_UPLOADER_SERVICE_PORT)"
    )
    assert env["HLSFORGE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf-hlsforge-token"
    assert 'hlsforge", "upload"' in pod["spec"]["containers"][0]["args"][0]


def test_selectors_never_carry_the_chart_version() -> None:
    for d in render():
        selector = d.get("spec", {}).get("selector", {})
        labels = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
        assert "helm.sh/chart" not in labels, d["metadata"]["name"]


def test_schema_defaults_match_values_yaml_and_every_key_is_documented() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    text = (CHART / "values.yaml").read_text()

    def walk(node: Doc, vals: Doc, path: str) -> None:
        props = node["properties"]
        assert set(vals) <= set(props), (
            f"{path}: keys missing from the schema: {set(vals) - set(props)}"
        )
        for key, child in props.items():
            assert child.get("description"), f"{path}{key} has no description"
            if key not in vals:
                continue
            if child.get("type") == "object" and "properties" in child:
                walk(child, vals[key], f"{path}{key}.")
            else:
                assert child.get("default") == vals[key], f"{path}{key}: schema default differs"
            assert f"{key}:" in text

    walk(schema, values, "")


def test_configuration_doc_is_generated_from_the_schema() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "hack" / "chart_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_chart_crds_are_the_generated_ones() -> None:
    for name in ("transcodejobs.hlsforge.io.yaml", "kopf-peering.yaml"):
        chart_copy = (CHART / "crds" / name).read_text()
        assert chart_copy == (REPO / "deploy" / "crds" / name).read_text(), (
            f"run make generate ({name})"
        )


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


SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def uploader_pod(values: dict[str, str] | None = None) -> Doc:
    spec: Doc = one(render(values), "Deployment", "uploader")["spec"]["template"]
    return spec


def test_the_prober_container_holds_no_credential_and_the_token_is_projected_to_the_uploader() -> (
    None
):
    for values in (
        None,
        S3 | {"storage.s3.roleArn": "", "storage.s3.credentialsSecret": "s3-keys"},
    ):
        pod = uploader_pod(values)
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False
        uploader, prober = spec["containers"]
        assert (uploader["name"], prober["name"]) == ("uploader", "prober")
        assert prober["image"] == uploader["image"]
        assert prober["command"] == ["python3", "-m", "hlsforge_uploader.prober"]
        # the prober: its own uid, the socket folder and nothing else
        assert prober["securityContext"]["runAsUser"] == 10002
        assert prober["securityContext"]["runAsGroup"] == 10002
        assert spec["securityContext"]["runAsUser"] == 10001
        assert prober["volumeMounts"] == [
            {"name": "prober", "mountPath": "/var/run/hlsforge/prober"}
        ]
        prober_env = {e["name"]: e for e in prober["env"]}
        assert all("valueFrom" not in e for e in prober_env.values()), prober_env
        assert not [n for n in prober_env if n.startswith("AWS_") or "TOKEN" in n]
        assert prober_env["HLSFORGE_PROBER_ALLOWED_UID"]["value"] == "10001"
        assert prober_env["HLSFORGE_PROBER_LIMITS__CPU_SECONDS"]["value"] == "20"
        assert prober_env["HLSFORGE_PROBER_LIMITS__ADDRESS_SPACE_BYTES"]["value"] == "2147483648"
        # the uploader: the projected token at the standard path, the socket, the API token
        mounts = {m["name"]: m for m in uploader["volumeMounts"]}
        assert mounts["kube-api-access"]["mountPath"] == SA_PATH
        assert mounts["prober"]["mountPath"] == "/var/run/hlsforge/prober"
        assert "token" in mounts
        uploader_env = {e["name"]: e.get("value") for e in uploader["env"]}
        assert uploader_env["HLSFORGE_PROBER_SOCKET"] == "/var/run/hlsforge/prober/probe.sock"
        volumes = {v["name"]: v for v in spec["volumes"]}
        sources = volumes["kube-api-access"]["projected"]["sources"]
        assert sources[0]["serviceAccountToken"]["path"] == "token"
        assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
        assert sources[2]["downwardAPI"]["items"][0]["path"] == "namespace"
        assert volumes["prober"]["emptyDir"]["medium"] == "Memory"


def test_with_s3_and_irsa_the_webhook_skips_the_prober() -> None:
    pod = uploader_pod(S3)
    assert pod["metadata"]["annotations"]["eks.amazonaws.com/skip-containers"] == "prober"
    annotations = uploader_pod()["metadata"]["annotations"]
    assert annotations == {"kubectl.kubernetes.io/default-container": "uploader"}


def test_without_the_prober_the_uploader_probes_in_process_and_the_token_is_still_projected() -> (
    None
):
    spec = uploader_pod({"uploader.prober.enabled": "false"})["spec"]
    assert [c["name"] for c in spec["containers"]] == ["uploader"]
    assert spec["automountServiceAccountToken"] is False
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert "HLSFORGE_PROBER_SOCKET" not in env
    assert env["HLSFORGE_PROBER_LIMITS__CPU_SECONDS"] == "20"
    assert "prober" not in [v["name"] for v in spec["volumes"]]
