"""The generated CRD on a real API server: it installs, defaults, and refuses what the
pydantic models refuse (CEL rules included), so ``kubectl apply`` and the uploader agree."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hlsforge_api.v1alpha1 import TranscodeJob
from tests.integration.conftest import KubeCluster

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "deploy" / "crds"
EXAMPLE = REPO / "deploy" / "examples" / "transcodejob.yaml"


@pytest.fixture(scope="module")
def crd_installed(kube_cluster: KubeCluster) -> KubeCluster:
    kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "crd/transcodejobs.hlsforge.io", "--timeout=60s"
    )
    return kube_cluster


def manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hlsforge.io/v1alpha1",
        "kind": "TranscodeJob",
        "metadata": {"name": name},
        "spec": {"source": "uploads/a.mp4", "output": "hls/a", **spec},
    }


def server_accepts(cluster: KubeCluster, namespace: str, body: dict[str, Any]) -> tuple[bool, str]:
    done = cluster.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps(body),
        check=False,
    )
    return done.returncode == 0, done.stderr


def model_accepts(body: dict[str, Any]) -> bool:
    try:
        TranscodeJob.model_validate(body)
    except ValidationError:
        return False
    return True


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "dot-dot": ({"source": "uploads/../etc/passwd"}, "must not contain '..'"),
    "dot-dot-s3": ({"source": "s3://media/../x.mp4"}, "must not contain '..'"),
    "absolute": ({"source": "/etc/passwd"}, "spec.source"),
    "url": ({"source": "http://example.com/a.mp4"}, "spec.source"),
    "same-as-output": ({"output": "uploads/a.mp4"}, "output must differ from source"),
    "hevc-in-ts": ({"video": {"codec": "h265"}}, "h265 requires segmentFormat fmp4"),
    "bad-format": ({"segmentFormat": "webm"}, "segmentFormat"),
    "duplicate-names": (
        {
            "renditions": [
                {"name": "a", "height": 720, "videoBitrateKbps": 3000},
                {"name": "a", "height": 360, "videoBitrateKbps": 800},
            ]
        },
        "rendition names must be unique",
    ),
    "max-below-average": (
        {
            "renditions": [
                {"name": "a", "height": 720, "videoBitrateKbps": 3000, "maxBitrateKbps": 1000}
            ]
        },
        "maxBitrateKbps must not be below",
    ),
    "odd-height": (
        {"renditions": [{"name": "a", "height": 721, "videoBitrateKbps": 900}]},
        "multiple of 2",
    ),
    "retries": ({"maxRetries": 99}, "maxRetries"),
    "deadline": ({"activeDeadlineSeconds": 5}, "activeDeadlineSeconds"),
    "quantity": ({"resources": {"limits": {"memory": "lots"}}}, "memory"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_server_and_models_refuse_the_same_specs(
    crd_installed: KubeCluster, namespace: str, case: str
) -> None:
    spec, message = REFUSED[case]
    body = manifest(f"refused-{case}", **spec)
    accepted, stderr = server_accepts(crd_installed, namespace, body)
    assert not accepted, f"the API server accepted {case}"
    assert message in stderr
    assert not model_accepts(body), f"the models accepted {case}"


def test_name_length_is_bounded_on_the_server(crd_installed: KubeCluster, namespace: str) -> None:
    accepted, stderr = server_accepts(crd_installed, namespace, manifest("a" * 53))
    assert not accepted
    assert "at most 52 characters" in stderr
    assert server_accepts(crd_installed, namespace, manifest("a" * 52))[0]


def test_example_is_accepted_and_defaults_apply(crd_installed: KubeCluster, namespace: str) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    assert model_accepts(example)
    crd_installed.kubectl("apply", "-n", namespace, "-f", str(EXAMPLE))
    crd_installed.apply(manifest("minimal"), namespace)
    stored = crd_installed.get_json("tj", "minimal", "-n", namespace)["spec"]
    assert stored["segmentDuration"] == 4
    assert stored["segmentFormat"] == "ts"
    assert stored["sourcePolicy"] == "DeleteOnSuccess"
    assert stored["video"] == {"codec": "h264", "preset": "veryfast", "allowCopy": True}
    assert stored["audio"] == {"codec": "aac", "bitrateKbps": 128, "channels": 2}
    # What the server stored parses back into the models unchanged.
    parsed = TranscodeJob.model_validate(crd_installed.get_json("tj", "minimal", "-n", namespace))
    assert parsed.spec.to_wire() == {k: v for k, v in stored.items()}


def test_spec_is_immutable_where_it_matters(crd_installed: KubeCluster, namespace: str) -> None:
    crd_installed.apply(manifest("immutable"), namespace)

    def patch(spec: dict[str, Any]) -> tuple[int, str]:
        done = crd_installed.kubectl(
            "patch",
            "tj",
            "immutable",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps({"spec": spec}),
            check=False,
        )
        return done.returncode, done.stderr

    for field, value in [
        ("source", "uploads/other.mp4"),
        ("output", "hls/other"),
        ("segmentFormat", "fmp4"),
        ("renditions", [{"name": "a", "height": 360, "videoBitrateKbps": 800}]),
        ("audio", {"codec": "none"}),
    ]:
        code, stderr = patch({field: value})
        assert code != 0, f"spec.{field} could be changed"
        assert f"spec.{field} is immutable" in stderr
    # Scheduling fields stay editable on a live job.
    assert patch({"priority": 50, "sourcePolicy": "Retain", "maxRetries": 1})[0] == 0
    stored = crd_installed.get_json("tj", "immutable", "-n", namespace)["spec"]
    assert (stored["priority"], stored["sourcePolicy"]) == (50, "Retain")


def test_printer_columns_and_status_subresource(crd_installed: KubeCluster, namespace: str) -> None:
    crd_installed.apply(manifest("columns"), namespace)
    status = {"status": {"phase": "Running", "progress": 42.5, "attempts": 1}}
    crd_installed.kubectl(
        "patch",
        "tj",
        "columns",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    # A spec change through the status subresource is ignored, as Kubernetes promises.
    crd_installed.kubectl(
        "patch",
        "tj",
        "columns",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"priority": 99}}),
    )
    assert crd_installed.get_json("tj", "columns", "-n", namespace)["spec"]["priority"] == 0
    deadline = time.monotonic() + 10
    table = ""
    while time.monotonic() < deadline:
        table = crd_installed.kubectl("get", "tj", "columns", "-n", namespace).stdout
        if "Running" in table:
            break
        time.sleep(0.5)
    header, row = table.strip().splitlines()
    assert header.split() == ["NAME", "PHASE", "PROGRESS", "ATTEMPTS", "AGE"]
    assert row.split()[:4] == ["columns", "Running", "42.5", "1"]
