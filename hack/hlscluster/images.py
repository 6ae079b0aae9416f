"""Local images: built here, imported into containerd's k8s.io namespace (nothing is pulled).

The pause and base images are written directly as `docker save`-format archives (one layer
each), so the node does not depend on Docker; other images are built with Docker and moved
into containerd with `docker save | ctr images import`.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .settings import BASE_IMAGE, DEBIAN_SUITE, PAUSE_IMAGE, S3_IMAGE, Settings

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def image_config(diff_id: str, entrypoint: list[str] | None, cmd: list[str] | None) -> bytes:
    """An OCI/Docker image config for a single-layer linux/amd64 image (pure)."""
    cfg: dict[str, object] = {"Env": [f"PATH={DEFAULT_PATH}"]}
    if entrypoint:
        cfg["Entrypoint"] = entrypoint
    if cmd:
        cfg["Cmd"] = cmd
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hlsforge hack/"}],
    }
    return json.dumps(doc, sort_keys=True).encode()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def write_docker_archive(
    out: Path, ref: str, layer: Path, entrypoint: list[str] | None, cmd: list[str] | None
) -> None:
    """`docker save` layout: manifest.json, <config>.json, <layer>/layer.tar."""
    digest = _sha256_file(layer)
    config = image_config(f"sha256:{digest}", entrypoint, cmd)
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [f"{digest}/layer.tar"]}]
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w") as tar:
        _add_bytes(tar, config_name, config)
        tar.add(str(layer), arcname=f"{digest}/layer.tar")
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    tmp.rename(out)


def pause_archive(s: Settings) -> Path:
    out = s.images_cache / "pause.tar"
    if out.exists():
        return out
    s.images_cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        layer = Path(tmp) / "layer.tar"
        with tarfile.open(layer, "w") as tar:
            data = s.binary("pause").read_bytes()
            _add_bytes(tar, "pause", data, mode=0o755)
        write_docker_archive(out, PAUSE_IMAGE, layer, ["/pause"], None)
    return out


def s3_archive(s: Settings) -> Path:
    """versitygw (a static Go binary) as a one-layer image: an S3 server pods can reach."""
    out = s.images_cache / f"versitygw-{S3_IMAGE.rsplit(':', 1)[1]}.tar"
    if out.exists():
        return out
    s.images_cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        layer = Path(tmp) / "layer.tar"
        with tarfile.open(layer, "w") as tar:
            _add_bytes(tar, "versitygw", s.binary("versitygw").read_bytes(), mode=0o755)
        write_docker_archive(out, S3_IMAGE, layer, ["/versitygw"], None)
    return out


def ensure_s3_image(s: Settings) -> str:
    if not containerd_has(s, S3_IMAGE):
        import_archive(s, s3_archive(s))
    return S3_IMAGE


def base_archive(s: Settings) -> Path:
    """debootstrap --variant=minbase, tarred as one layer; cached outside the repo."""
    out = s.images_cache / f"base-{DEBIAN_SUITE}.tar"
    if out.exists():
        return out
    s.images_cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=s.images_cache) as tmp:
        rootfs, layer = Path(tmp) / "rootfs", Path(tmp) / "layer.tar"
        print(f"debootstrap {DEBIAN_SUITE} (minbase) ...", file=sys.stderr, flush=True)
        subprocess.run(
            ["nice", "-n", "10", "debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs),
             DEBIAN_MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / junk).glob("*"):
                if item.is_file():
                    item.unlink()
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(layer),
             "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "."],
            check=True,
        )  # fmt: skip
        write_docker_archive(out, BASE_IMAGE, layer, None, ["/bin/bash"])
    return out


def ctr(s: Settings, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    argv = ["ctr", "--address", str(s.containerd_sock), "--namespace", "k8s.io", *args]
    return subprocess.run(argv, input=stdin, capture_output=True, check=False)


def containerd_has(s: Settings, ref: str) -> bool:
    listed = ctr(s, "images", "list", "--quiet")
    return listed.returncode == 0 and ref.encode() in listed.stdout.split()


def import_archive(s: Settings, archive: Path) -> None:
    done = ctr(s, "images", "import", str(archive))  # unpacks for the default snapshotter
    if done.returncode != 0:
        raise RuntimeError(f"ctr images import {archive} failed: {done.stderr.decode()}")


def ensure_node_images(s: Settings) -> None:
    for ref, make in ((PAUSE_IMAGE, pause_archive), (BASE_IMAGE, base_archive)):
        if not containerd_has(s, ref):
            import_archive(s, make(s))


# --- Docker ---------------------------------------------------------------------------------


def docker(s: Settings, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Our dockerd (its own socket), output captured; the caller checks the return code."""
    argv = ["/usr/bin/docker", "--host", f"unix://{s.docker_sock}", *args]
    return subprocess.run(argv, capture_output=True, check=False)


def docker_has(s: Settings, ref: str) -> bool:
    return docker(s, "image", "inspect", ref).returncode == 0


def ensure_docker_base(s: Settings) -> None:
    """Make `FROM hlsforge.local/base:bookworm` work in Dockerfiles."""
    if not docker_has(s, BASE_IMAGE):
        loaded = docker(s, "load", "--input", str(base_archive(s)))
        if loaded.returncode != 0:
            raise RuntimeError(f"docker load failed: {loaded.stderr.decode()}")


def build_and_load(
    s: Settings,
    tag: str,
    context: Path,
    dockerfile: Path | None = None,
    network: str = "none",
    build_args: dict[str, str] | None = None,
) -> None:
    """docker build, then docker save | ctr import into k8s.io (for imagePullPolicy Never).

    Builds are offline (``network="none"``) unless a Dockerfile needs a package registry
    (apt); ``network="host"`` then reaches it the way this machine does.
    """
    ensure_docker_base(s)
    argv = ["build", f"--network={network}", "--tag", tag]
    for key, value in sorted((build_args or {}).items()):
        argv += ["--build-arg", f"{key}={value}"]
    if dockerfile is not None:
        argv += ["--file", str(dockerfile)]
    built = docker(s, *argv, str(context))
    if built.returncode != 0:
        out = (built.stdout + built.stderr).decode(errors="replace")
        raise RuntimeError(f"docker build {tag} failed:\n{out}")
    load_from_docker(s, tag)


def load_from_docker(s: Settings, tag: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "image.tar"
        saved = docker(s, "save", "--output", str(archive), tag)
        if saved.returncode != 0:
            raise RuntimeError(f"docker save {tag} failed: {saved.stderr.decode()}")
        import_archive(s, archive)


def docker_available() -> bool:
    return Path("/usr/sbin/dockerd").exists() and shutil.which("ctr") is not None
