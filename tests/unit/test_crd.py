"""The committed CRD is exactly what the models generate, and it is a structural schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hlsforge_api import crd
from hlsforge_api.v1alpha1 import IMMUTABLE_SPEC_FIELDS
from hlsforge_cli.main import main

COMMITTED = Path(__file__).parents[2] / "deploy" / "crds" / "transcodejobs.hlsforge.io.yaml"
FORBIDDEN_KEYS = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "title", "const", "examples"}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def schema() -> dict[str, Any]:
    result: dict[str, Any] = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return result


def test_committed_crd_matches_the_models() -> None:
    assert COMMITTED.read_text() == crd.render_crd_yaml(), (
        "deploy/crds is stale: run `make generate` and commit the result"
    )


def test_cli_prints_the_same_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    assert capsys.readouterr().out == COMMITTED.read_text()


def test_schema_is_structural() -> None:
    for path, node in walk(schema()):
        if path.endswith("/properties") or path.endswith("x-kubernetes-validations"):
            continue
        if "type" in node or "rule" in node:
            bad = FORBIDDEN_KEYS & node.keys()
            assert not bad, f"{path} has {bad}"
            assert node.get("additionalProperties") is not False, path
            assert not ("properties" in node and "additionalProperties" in node), path
    # every schema node under properties/items declares a type
    for path, node in walk(schema()):
        if path.endswith("/properties"):
            for name, sub in node.items():
                assert "type" in sub, f"{path}/{name} has no type"


def test_constraints_survive_conversion() -> None:
    spec = schema()["properties"]["spec"]
    props = spec["properties"]
    assert spec["required"] == ["source", "output"]
    assert props["segmentFormat"]["enum"] == ["ts", "fmp4"]
    assert props["segmentDuration"] == {
        "default": 4,
        "description": props["segmentDuration"]["description"],
        "maximum": 30,
        "minimum": 1,
        "type": "integer",
    }
    assert props["sourcePolicy"]["enum"] == ["DeleteOnSuccess", "Retain"]
    assert props["source"]["pattern"].startswith("^(s3://")
    assert props["source"]["x-kubernetes-validations"][0]["rule"].startswith("!self.matches(")
    rendition = props["renditions"]["items"]
    assert rendition["properties"]["height"]["multipleOf"] == 2
    assert props["renditions"]["maxItems"] == 8
    assert props["video"]["default"] == {}
    status = schema()["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Pending", "Queued", "Running", "Succeeded", "Failed"]
    assert status["progress"]["maximum"] == 100
    assert status["conditions"]["x-kubernetes-list-type"] == "map"
    assert status["startTime"]["format"] == "date-time"


def test_spec_immutability_rules() -> None:
    rules = [v["rule"] for v in schema()["properties"]["spec"]["x-kubernetes-validations"]]
    for field in IMMUTABLE_SPEC_FIELDS:
        assert any(f"self.{field} == oldSelf.{field}" in rule for rule in rules), field
    # What may change on a live job stays mutable.
    for field in ("priority", "sourcePolicy", "maxRetries", "activeDeadlineSeconds"):
        assert not any(f"oldSelf.{field}" in rule for rule in rules), field


def test_resource_shape_and_printer_columns() -> None:
    body = yaml.safe_load(COMMITTED.read_text())
    assert body["metadata"]["name"] == "transcodejobs.hlsforge.io"
    names = body["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == (
        "TranscodeJob",
        "transcodejobs",
        ["tj"],
    )
    version = body["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    default_columns = [
        c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c
    ]
    assert default_columns == ["Phase", "Progress", "Attempts", "Age"]


def test_converter_refuses_real_unions() -> None:
    node = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    with pytest.raises(crd.SchemaError, match="union"):
        crd.to_structural(node, {})
