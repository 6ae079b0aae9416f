"""The uploader's HTTP server limits (``uploader.http``) reach its container, and every one of
them matches the uploader setting's default (the chart documents what the code does)."""

from __future__ import annotations

from hlsforge_uploader.settings import UploaderSettings
from tests.helm.chart import env_of, one, render, render_error

VALUES = {
    "headerTimeoutSeconds": "HLSFORGE_HTTP_HEADER_TIMEOUT_SECONDS",
    "maxHeaderBytes": "HLSFORGE_HTTP_MAX_HEADER_BYTES",
    "maxHeaders": "HLSFORGE_HTTP_MAX_HEADERS",
    "maxConnections": "HLSFORGE_HTTP_MAX_CONNECTIONS",
    "keepAliveTimeoutSeconds": "HLSFORGE_HTTP_KEEPALIVE_TIMEOUT_SECONDS",
    "backlog": "HLSFORGE_HTTP_BACKLOG",
}


def test_the_defaults_are_the_settings_defaults() -> None:
    env = env_of(one(render(), "Deployment", "uploader"))
    fields = UploaderSettings.model_fields
    for variable in VALUES.values():
        default = fields[variable.removeprefix("HLSFORGE_").lower()].default
        assert float(env[variable]) == float(default), variable


def test_given_values_reach_the_uploader() -> None:
    numbers = ["3", "8192", "20", "300", "7", "512"]
    given = {f"uploader.http.{key}": n for key, n in zip(VALUES, numbers, strict=True)}
    env = env_of(one(render(given), "Deployment", "uploader"))
    assert [env[variable] for variable in VALUES.values()] == numbers


def test_the_schema_refuses_a_head_cap_below_4_kib() -> None:
    assert "maxHeaderBytes" in render_error({"uploader.http.maxHeaderBytes": "100"})
