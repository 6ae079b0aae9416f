"""The chart's contract rendered by `helm template` (no cluster): lint, the value sets in ci/, the
schema and what is generated from it or copied into the chart."""

from __future__ import annotations

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
    find,
    helm,
    render,
    render_error,
)


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


def test_selectors_never_carry_the_chart_version() -> None:
    for d in render():
        selector = d.get("spec", {}).get("selector", {})
        labels = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
        assert "helm.sh/chart" not in labels, d["metadata"]["name"]
