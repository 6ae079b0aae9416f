"""The rendered operator and uploader (no cluster): their wiring, the token, the Service and
Ingress, monitors, the `helm test` hook and the uploader's prober container."""

from __future__ import annotations

import base64

from tests.helm.chart import (
    S3,
    Doc,
    env_of,
    find,
    named,
    one,
    render,
)


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


def test_token_secret_is_generated_given_or_taken_from_an_existing_secret() -> None:
    generated = base64.b64decode(one(render(), "Secret")["data"]["token"]).decode()
    assert len(generated) == 40 and generated.isalnum()
    assert generated != base64.b64decode(one(render(), "Secret")["data"]["token"]).decode()
    given = one(render({"auth.token": "s3cr3t-token"}), "Secret")
    assert base64.b64decode(given["data"]["token"]).decode() == "s3cr3t-token"
    docs = render({"auth.existingSecret": "my-token"})
    assert not find(docs, "Secret")
    volumes = one(docs, "Deployment", "uploader")["spec"]["template"]["spec"]["volumes"]
    # The whole Secret: every key is a named token (test_render_auth.py).
    assert {"name": "token", "secret": {"secretName": "my-token"}} in volumes


def test_uploader_service_ingress_and_settings() -> None:
    docs = render({"uploader.service.type": "NodePort", "uploader.service.nodePort": "30080"})
    service = named(docs, "Service", "hf-hlsforge-uploader")
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
    assert env["HLSFORGE_TOKEN_DIR"] == "/var/run/hlsforge/token"  # noqa: S105
    assert env["HLSFORGE_CORS_ORIGINS"] == "https://a.example"
    assert env["HLSFORGE_MAX_UPLOAD_BYTES"] == "21474836480"


def test_service_monitors_are_optional() -> None:
    assert not find(render(), "ServiceMonitor")
    monitors = find(render({"metrics.serviceMonitor.enabled": "true"}), "ServiceMonitor")
    assert [m["spec"]["endpoints"][0]["port"] for m in monitors] == ["metrics", "metrics"]


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
