"""The app as configured: CORS from settings, the token sources, the OpenAPI surface.

In-process without the lifespan (no Kubernetes): only what answers before a route needs the
shared clients - CORS preflights, OpenAPI, the token check.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hlsforge_api.v1alpha1 import TranscodeJobSpec
from hlsforge_uploader.api.deps import caller_of
from hlsforge_uploader.app import create_app
from hlsforge_uploader.auth.callers import Caller
from hlsforge_uploader.errors import Unauthorized, UploaderBusy
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.uploads.capacity import UploadSlots


def settings(tmp_path: Path, **kwargs: object) -> UploaderSettings:
    return UploaderSettings.model_validate({"static_dir": tmp_path, "tokens": "t1", **kwargs})


def request(app: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    """One request through httpx's ASGI transport (no server; the lifespan does not run)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def preflight(app: FastAPI, origin: str) -> dict[str, str]:
    r = request(
        app,
        "OPTIONS",
        "/v1/jobs",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    return {k.lower(): v for k, v in r.headers.items()} | {"status": str(r.status_code)}


def test_cors_allows_only_the_configured_origins(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, cors_origins="https://player.example, https://b.example"))
    ok = preflight(app, "https://player.example")
    assert ok["status"] == "200"
    assert ok["access-control-allow-origin"] == "https://player.example"
    assert (
        "Range" in ok["access-control-allow-headers"]
        or "range" in ok["access-control-allow-headers"].lower()
    )
    assert preflight(app, "https://evil.example")["status"] == "400"


def test_no_cors_headers_unless_configured(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    assert "access-control-allow-origin" not in preflight(app, "https://player.example")


def test_openapi_documents_every_resource(tmp_path: Path) -> None:
    spec = request(create_app(settings(tmp_path)), "GET", "/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/uploads", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/hls/{path}"):
        assert path in paths, path
    body = paths["/v1/uploads"]["post"]["requestBody"]["content"]
    assert {"application/octet-stream", "multipart/form-data"} <= set(body)
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_tokens_come_from_env_and_a_rotating_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "tokens"
    secret.write_text("from-secret\n\n")
    s = settings(tmp_path, tokens="a,bob=b", token_file=secret)
    assert caller_of("from-secret", s) == Caller("default", admin=True)
    assert caller_of("b", s) == Caller("bob", admin=False)
    assert caller_of("a", s) == Caller("default", admin=True)
    secret.write_text("rotated\n")
    assert caller_of("rotated", s).name == "default"
    for bad in ("from-secret", "", None, "a,bob=b", "bob=b"):
        with pytest.raises(Unauthorized):
            caller_of(bad, s)


def test_docs_and_metrics_are_public_behind_a_token_or_off(tmp_path: Path) -> None:
    public = create_app(settings(tmp_path))
    assert request(public, "GET", "/docs").status_code == 200
    assert "/metrics" in request(public, "GET", "/openapi.json").json()["paths"]
    guarded = create_app(settings(tmp_path, docs="token", metrics_auth=True))
    for path in ("/openapi.json", "/docs"):
        assert request(guarded, "GET", path).status_code == 401, path
        ok = request(guarded, "GET", path, headers={"Authorization": "Bearer t1"})
        assert ok.status_code == 200, path
    assert (
        "/v1/uploads"
        in request(guarded, "GET", "/openapi.json", headers={"Authorization": "Bearer t1"}).json()[
            "paths"
        ]
    )
    assert request(guarded, "GET", "/metrics").status_code == 401
    off = create_app(settings(tmp_path, docs="off", metrics_port=0))
    for path in ("/openapi.json", "/docs", "/redoc", "/metrics"):
        assert request(off, "GET", path).status_code == 404, path
    assert "/metrics" not in off.openapi()["paths"]


def test_openapi_documents_the_upload_options_as_the_spec_does(tmp_path: Path) -> None:
    """``UploadOptions`` is the spec's ``JobOptions``: same fields, descriptions and bounds."""
    spec = request(create_app(settings(tmp_path)), "GET", "/openapi.json").json()
    schemas = spec["components"]["schemas"]
    options = schemas["UploadOptions"]["properties"]
    job_spec = TranscodeJobSpec.model_json_schema(by_alias=True)["properties"]
    assert set(options) == set(job_spec) - {"source", "output"}
    for name in ("sourcePolicy", "maxRetries", "activeDeadlineSeconds", "priority"):
        assert options[name]["description"] == job_spec[name]["description"], name
    assert options["maxRetries"]["maximum"] == job_spec["maxRetries"]["maximum"] == 10
    direct = spec["paths"]["/v1/uploads/direct"]["post"]["requestBody"]["content"]
    assert direct["application/json"]["schema"] == {"$ref": "#/components/schemas/UploadOptions"}
    assert "Rendition" in schemas


def test_uploads_in_flight_cap_follows_the_memory_budget() -> None:
    mib = 1024**2
    volume = UploaderSettings(upload_memory_bytes=256 * mib, write_buffer_bytes=mib)
    assert volume.uploads_in_flight_cap() == 256
    bucket = UploaderSettings(
        storage="s3", s3_bucket="b", upload_memory_bytes=256 * mib, write_buffer_bytes=mib
    )
    assert bucket.uploads_in_flight_cap() == 256 // 25  # three 8 MiB parts + the buffer each
    slots = UploadSlots(2, retry_after=3)
    with slots.hold(), slots.hold():
        with pytest.raises(UploaderBusy) as busy, slots.hold():
            pass
        assert busy.value.headers() == {"Retry-After": "3"}
    with slots.hold():
        assert slots.held == 1
