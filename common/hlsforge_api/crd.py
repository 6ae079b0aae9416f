"""Generate the TranscodeJob CustomResourceDefinition from the pydantic models.

There is no controller-gen for Python. pydantic's JSON Schema uses ``$defs``/``$ref``,
``anyOf [..., null]`` for optionals, ``const`` for one-valued literals, ``title``s and
``additionalProperties: false``; a structural CRD schema allows none of those. This module
is the small converter: it inlines references, drops what OpenAPI v3 in Kubernetes does not
take, and keeps every constraint (enums, bounds, patterns, CEL rules). The output is
deterministic so that a test can fail when the committed CRD drifts from the models.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from hlsforge_api import v1alpha1

# Keys of pydantic's JSON Schema that a structural schema refuses or that only add noise.
_DROPPED_KEYS = frozenset({"title", "examples", "$defs"})
_MODEL_DEFAULT_OBJECTS = ("video", "audio", "thumbnails")

PRINTER_COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Progress", "type": "number", "jsonPath": ".status.progress"},
    {"name": "Attempts", "type": "integer", "jsonPath": ".status.attempts"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Speed", "type": "number", "jsonPath": ".status.speed", "priority": 1},
    {"name": "ETA", "type": "integer", "jsonPath": ".status.eta", "priority": 1},
    {"name": "Source", "type": "string", "jsonPath": ".spec.source", "priority": 1},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
)


class SchemaError(ValueError):
    """The models use a JSON Schema construct the converter cannot express structurally."""


def _resolve(ref: str, defs: dict[str, Any]) -> dict[str, Any]:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise SchemaError(f"unsupported $ref {ref!r}")
    resolved: dict[str, Any] = defs[ref.removeprefix(prefix)]
    return resolved


def _without_null(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in variants if v.get("type") != "null"]


def to_structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Convert one pydantic JSON Schema node (and its children) into structural OpenAPI v3."""
    node = dict(node)
    if "$ref" in node:
        target = _resolve(node.pop("$ref"), defs)
        # Keys beside a $ref (description, default) describe the field and win over the model's.
        node = {**target, **node}
    if "allOf" in node:
        (only,) = node.pop("allOf")
        node = {**to_structural(only, defs), **node}
    if "anyOf" in node:
        variants = _without_null(node.pop("anyOf"))
        if len(variants) != 1:
            raise SchemaError(f"a union of {len(variants)} non-null types is not structural")
        node = {**to_structural(variants[0], defs), **node}
        if node.get("default", "unset") is None:
            del node["default"]

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "additionalProperties" and value is False:
            continue  # structural schemas prune unknown fields instead
        if key == "const":
            out["enum"] = [value]
        elif key == "description":
            out["description"] = " ".join(value.split())
        elif key == "properties":
            out["properties"] = {name: to_structural(sub, defs) for name, sub in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = to_structural(value, defs)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "type" not in out:
        raise SchemaError(f"schema node without a type: {sorted(node)}")
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return to_structural(raw, raw.get("$defs", {}))


def _spec_schema() -> dict[str, Any]:
    spec = model_schema(v1alpha1.TranscodeJobSpec)
    # Object fields built by default_factory carry no default in JSON Schema; giving them
    # `{}` lets the API server apply the nested defaults, so `kubectl get -o yaml` shows the
    # settings a job will really run with.
    for name in _MODEL_DEFAULT_OBJECTS:
        spec["properties"][name].setdefault("default", {})
    return spec


def openapi_schema() -> dict[str, Any]:
    """The ``openAPIV3Schema`` of the TranscodeJob resource."""
    return {
        "type": "object",
        "description": "A request to turn one uploaded video into adaptive HLS.",
        "required": ["spec"],
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {v1alpha1.MAX_NAME_LENGTH}",
                "message": f"metadata.name must be at most {v1alpha1.MAX_NAME_LENGTH} characters"
                " (it names the Job and labels its pods)",
            }
        ],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _spec_schema(),
            "status": model_schema(v1alpha1.TranscodeJobStatus),
        },
    }


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition as a dict, ready to serialise."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{v1alpha1.PLURAL}.{v1alpha1.GROUP}",
            "labels": {"app.kubernetes.io/part-of": "hlsforge"},
        },
        "spec": {
            "group": v1alpha1.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": v1alpha1.KIND,
                "listKind": f"{v1alpha1.KIND}List",
                "plural": v1alpha1.PLURAL,
                "singular": v1alpha1.SINGULAR,
                "shortNames": list(v1alpha1.SHORT_NAMES),
                "categories": ["hlsforge"],
            },
            "versions": [
                {
                    "name": v1alpha1.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(PRINTER_COLUMNS),
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


HEADER = (
    "# GENERATED by `hlsforge crd` from common/hlsforge_api/v1alpha1/ -- do not edit.\n"
    "# Regenerate with `make generate`; tests fail when this file drifts from the models.\n"
)


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated sub-schemas out in full: anchors would make the CRD hard to read."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_crd_yaml() -> str:
    body = yaml.dump(
        crd(), Dumper=_NoAliasDumper, sort_keys=False, width=100, default_flow_style=False
    )
    return HEADER + body
