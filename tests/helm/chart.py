"""Rendering the chart with the helm the cluster scripts build (hack/cluster.py path helm)."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "hlsforge"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
Doc = dict[str, Any]
# S3 mode with IRSA: the value set the storage and uploader rendering tests start from.
S3 = {
    "storage.mode": "s3",
    "storage.s3.bucket": "media-bucket",
    "storage.s3.region": "eu-west-1",
    "storage.s3.roleArn": "arn:aws:iam::123456789012:role/hlsforge",
}


@functools.cache
def helm_path() -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "hack" / "cluster.py"), "path", "helm"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    path = done.stdout.strip()
    assert Path(path).is_file(), f"helm is not built at {path}: run `make cluster-deps`"
    return path


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [helm_path(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def set_args(values: dict[str, str] | None) -> list[str]:
    out: list[str] = []
    for key, value in (values or {}).items():
        out += ["--set", f"{key}={value}"]
    return out


def render_text(
    values: dict[str, str] | None = None,
    files: list[Path] | None = None,
    namespace: str = "media",
    release: str = "hf",
) -> str:
    argv = ["template", release, str(CHART), "--namespace", namespace]
    for f in files or []:
        argv += ["--values", str(f)]
    return helm(*argv, *set_args(values)).stdout


def render(
    values: dict[str, str] | None = None,
    files: list[Path] | None = None,
    namespace: str = "media",
    release: str = "hf",
) -> list[Doc]:
    text = render_text(values, files, namespace, release)
    return [d for d in yaml.safe_load_all(text) if d]


def render_error(values: dict[str, str]) -> str:
    argv = ["template", "hf", str(CHART), *set_args(values)]
    done = helm(*argv, check=False)
    assert done.returncode != 0, f"helm template accepted {values}"
    return done.stderr


def find(docs: list[Doc], kind: str, name_part: str = "") -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and name_part in d["metadata"]["name"]]


def one(docs: list[Doc], kind: str, name_part: str = "") -> Doc:
    found = find(docs, kind, name_part)
    assert len(found) == 1, f"{len(found)} {kind} matching {name_part!r}"
    return found[0]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name!r}"
    return found[0]


def env_of(deployment: Doc) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def pod_specs(docs: list[Doc]) -> list[tuple[str, Doc]]:
    """Every pod spec the chart renders (Deployments' templates and the test Pod)."""
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            out.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
        elif d["kind"] == "Pod":
            out.append((d["metadata"]["name"], d["spec"]))
    return out
