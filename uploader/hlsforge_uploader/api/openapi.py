"""The OpenAPI document: FastAPI's own, plus ``UploadOptions``.

Requests carry the options as JSON text (the ``options`` query parameter or form field, a
direct upload's body), read by ``helpers.parse_options``, so FastAPI never sees the model.
Its schema (the spec's ``JobOptions``, with their descriptions and bounds) is added to the
components, and the bodies that carry it point at it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from hlsforge_uploader.models import UploadOptions

OPTIONS_REF = {"$ref": "#/components/schemas/UploadOptions"}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` include ``UploadOptions`` and its parts as components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        options = UploadOptions.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(options.pop("$defs", {}))
        components["UploadOptions"] = options
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
