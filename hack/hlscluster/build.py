"""Builds of the pinned binaries into the version-keyed cache (a hit costs nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .settings import (
    COREDNS_VERSION,
    HELM_VERSION,
    K8S_COMMANDS,
    K8S_VERSION,
    NETPOL_MODULE,
    NETPOL_VERSION,
    VERSITYGW_VERSION,
    Settings,
)


def go_binary() -> str:
    found = shutil.which("go")
    if found:
        return found
    if Path("/usr/local/go/bin/go").exists():
        return "/usr/local/go/bin/go"
    raise SystemExit("go is not installed (expected on PATH or at /usr/local/go/bin/go)")


def version_ldflags(version: str = K8S_VERSION) -> str:
    """What hack/lib/version.sh would stamp, so kubectl reports no version skew."""
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return " ".join(
        [
            "-s",
            "-w",
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    )


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"})
    return env


def _go_build(module_dir: Path, package: str, out: Path, ldflags: str) -> float:
    """go build into a temporary name, then rename: a killed build leaves no half binary."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    argv = ["nice", "-n", "10", go_binary(), "build", "-trimpath", "-ldflags", ldflags]
    argv += ["-o", str(tmp), package]
    began = time.monotonic()
    print(f"building {out.name} ({package}) ...", file=sys.stderr, flush=True)
    subprocess.run(argv, cwd=module_dir, env=_go_env(), check=True)
    tmp.rename(out)
    took = time.monotonic() - began
    print(f"built {out.name} in {took:.0f}s", file=sys.stderr, flush=True)
    return took


def ensure_binaries(s: Settings) -> dict[str, float]:
    """Build whatever is missing; returns seconds per binary built (empty on a full hit)."""
    timings: dict[str, float] = {}
    mod = s.build_module
    for cmd in K8S_COMMANDS:
        out = s.binary(cmd)
        if not out.exists():
            timings[cmd] = _go_build(mod, f"k8s.io/kubernetes/cmd/{cmd}", out, version_ldflags())
    if not s.binary("etcd").exists():
        timings["etcd"] = _go_build(mod, "./cmd/etcd", s.binary("etcd"), "-s -w")
    if not s.binary("pause").exists():
        timings["pause"] = _go_build(mod, "./cmd/pause", s.binary("pause"), "-s -w")
    return timings


def _go_install(
    name: str, package: str, version: str, out: Path, ldflags: str, built_as: str | None = None
) -> float | None:
    """`go install module@version` pins modules that have no replace lines (helm, CoreDNS).

    built_as: the name go gives the binary (the package's last path element) when it is not
    out's name; it is installed into a scratch folder and renamed, so no half binary remains.
    """
    if out.exists():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    env = _go_env()
    gobin = out.parent if built_as is None else out.parent / f".{out.name}.gobin"
    env["GOBIN"] = str(gobin)
    env.pop("GOFLAGS", None)
    began = time.monotonic()
    print(f"building {name} {version} ...", file=sys.stderr, flush=True)
    subprocess.run(
        ["nice", "-n", "10", go_binary(), "install", "-trimpath", "-ldflags", ldflags,
         f"{package}@{version}"],
        env=env,
        check=True,
        cwd="/",
    )  # fmt: skip
    if built_as is not None:
        (gobin / built_as).rename(out)
        shutil.rmtree(gobin, ignore_errors=True)
    took = time.monotonic() - began
    print(f"built {name} in {took:.0f}s", file=sys.stderr, flush=True)
    return took


def ensure_helm(s: Settings) -> float | None:
    ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"
    return _go_install("helm", "helm.sh/helm/v3/cmd/helm", HELM_VERSION, s.binary("helm"), ldflags)


def ensure_coredns(s: Settings) -> float | None:
    out = s.binary("coredns")
    return _go_install("coredns", "github.com/coredns/coredns", COREDNS_VERSION, out, "-s -w")


def ensure_versitygw(s: Settings) -> float | None:
    """The S3-compatible server (posix backend) that the S3 tests start on 127.0.0.1."""
    out = s.binary("versitygw")
    package = "github.com/versity/versitygw/cmd/versitygw"
    return _go_install("versitygw", package, VERSITYGW_VERSION, out, "-s -w")


def ensure_netpol(s: Settings) -> float | None:
    """kube-network-policies: NetworkPolicy enforcement for the bridge CNI (pure Go, no cgo).

    Its main package is `<module>/cmd`, so go names the binary `cmd`.
    """
    out = s.binary("kube-network-policies")
    package = f"{NETPOL_MODULE}/cmd"
    return _go_install("kube-network-policies", package, NETPOL_VERSION, out, "-s -w", "cmd")
