"""The rendered chart's tokens, quotas and the uploader's metrics and docs (no cluster): one
Secret of named tokens mounted as a directory, the admins, the quotas, /metrics on its own port
behind its own ClusterIP Service. (helm template renders no NOTES: test_cluster_manifests.)"""

from __future__ import annotations

import base64

import pytest

from tests.helm.chart import Doc, env_of, find, named, one, render, render_error

UPLOADER = "hf-hlsforge-uploader"


def secret_data(docs: list[Doc]) -> dict[str, str]:
    data = one(docs, "Secret", "token")["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_named_tokens_are_keys_of_one_secret_given_or_generated() -> None:
    data = secret_data(render({"auth.tokens.alice": "ta-1", "auth.tokens.bob": ""}))
    assert set(data) == {"token", "alice", "bob"}
    assert data["alice"] == "ta-1"
    assert len(data["bob"]) == 40 and data["bob"].isalnum() and data["bob"] != data["token"]
    assert set(secret_data(render())) == {"token"}  # the single-token install, as before


def test_the_uploader_mounts_the_whole_secret_as_a_token_directory() -> None:
    docs = render({"auth.tokens.alice": "ta", "auth.admins[0]": "default", "auth.admins[1]": "ops"})
    uploader = named(docs, "Deployment", UPLOADER)
    env = env_of(uploader)
    assert env["HLSFORGE_TOKEN_DIR"] == "/var/run/hlsforge/token"  # noqa: S105
    assert "HLSFORGE_TOKEN_FILE" not in env
    assert env["HLSFORGE_ADMINS"] == "default,ops"
    pod = uploader["spec"]["template"]["spec"]
    assert {"name": "token", "secret": {"secretName": "hf-hlsforge-token"}} in pod["volumes"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["token"] == {
        "name": "token",
        "mountPath": "/var/run/hlsforge/token",
        "readOnly": True,
    }
    prober = next(c for c in pod["containers"] if c["name"] == "prober")
    assert "token" not in {m["name"] for m in prober["volumeMounts"]}


def test_quotas_docs_and_metrics_settings_reach_the_uploader() -> None:
    env = env_of(named(render(), "Deployment", UPLOADER))
    assert env["HLSFORGE_QUOTAS__CONCURRENT_UPLOADS"] == "8"
    assert env["HLSFORGE_QUOTAS__BYTES_PER_HOUR"] == "0"
    assert env["HLSFORGE_QUOTAS__DIRECT_TICKETS"] == "32"
    assert env["HLSFORGE_DOCS"] == "public"
    assert env["HLSFORGE_METRICS_AUTH"] == "false"
    env = env_of(
        named(
            render(
                {
                    "auth.quotas.bytesPerHour": "10737418240",
                    "auth.docs": "token",
                    "auth.metricsToken": "true",
                    "uploader.metricsPort": "9100",
                }
            ),
            "Deployment",
            UPLOADER,
        )
    )
    assert env["HLSFORGE_QUOTAS__BYTES_PER_HOUR"] == "10737418240"
    assert env["HLSFORGE_DOCS"] == "token"
    assert env["HLSFORGE_METRICS_AUTH"] == "true"
    assert env["HLSFORGE_METRICS_PORT"] == "9100"


def test_metrics_have_their_own_port_and_cluster_ip_service() -> None:
    docs = render(
        {"uploader.service.type": "LoadBalancer", "metrics.serviceMonitor.enabled": "true"}
    )
    container = named(docs, "Deployment", UPLOADER)["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9090} in container["ports"]
    public = named(docs, "Service", UPLOADER)
    assert [p["name"] for p in public["spec"]["ports"]] == ["http"]  # metrics never public
    metrics = named(docs, "Service", f"{UPLOADER}-metrics")
    assert metrics["spec"]["type"] == "ClusterIP"
    assert metrics["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics"}]
    monitor = named(docs, "ServiceMonitor", UPLOADER)
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert "authorization" not in monitor["spec"]["endpoints"][0]
    guarded = render({"metrics.serviceMonitor.enabled": "true", "auth.metricsToken": "true"})
    endpoint = named(guarded, "ServiceMonitor", UPLOADER)["spec"]["endpoints"][0]
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "hf-hlsforge-token", "key": "token"},
    }
    assert (
        "authorization"
        not in named(guarded, "ServiceMonitor", "hf-hlsforge-operator")["spec"]["endpoints"][0]
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth.tokens.token": "x"}, "invalid propertyName 'token'"),
        ({"auth.tokens.default": "x"}, "invalid propertyName 'default'"),
        ({"auth.tokens.bad/name": "x"}, "does not match pattern"),
        ({"auth.docs": "sometimes"}, "at '/auth/docs'"),
        ({"auth.quotas.concurrentUploads": "-1"}, "at '/auth/quotas/concurrentUploads'"),
        ({"auth.admins[0]": "not a name"}, "at '/auth/admins/0'"),
    ],
)
def test_bad_auth_values_are_refused(values: dict[str, str], message: str) -> None:
    assert message in render_error(values)


def test_an_existing_secret_is_used_whole_and_none_is_rendered() -> None:
    docs = render({"auth.existingSecret": "team-tokens", "auth.tokens.alice": "ignored"})
    assert not find(docs, "Secret")
    pod = named(docs, "Deployment", UPLOADER)["spec"]["template"]["spec"]
    assert {"name": "token", "secret": {"secretName": "team-tokens"}} in pod["volumes"]
