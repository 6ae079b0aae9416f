"""Both images built the local way: a wheelhouse on the host, then docker builds on the local
base, loaded into the node's containerd."""

from __future__ import annotations

import shutil
import subprocess
import time

from .settings import BUILD, EXTRAS, LOCAL_BASE, REPO
from .tools import cluster_py, log


def build_images(tag: str, python: str) -> None:
    """Wheelhouse on the host (PyPI is reachable here, not in docker builds), then both images
    with the local base, loaded into the node's containerd."""
    bundle = REPO / "uploader" / "hlsforge_uploader" / "static" / "vendor" / "hls.min.js"
    if not bundle.is_file():
        raise SystemExit(f"{bundle} is missing: run `make web` first")
    context = BUILD / "context"
    shutil.rmtree(context, ignore_errors=True)
    wheels = context / "build" / "wheels"
    started = time.monotonic()
    subprocess.run(
        [python, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wheels), f"{REPO}[{EXTRAS}]"],
        check=True,
        timeout=1200,
    )
    log(f"wheelhouse in {time.monotonic() - started:.0f}s")
    for image, dockerfile in (
        (f"hlsforge/transcoder:{tag}", REPO / "transcoder-image" / "Dockerfile"),
        (f"hlsforge/platform:{tag}", REPO / "deploy" / "images" / "platform.Dockerfile"),
    ):
        started = time.monotonic()
        done = cluster_py(
            "image-build",
            image,
            str(context),
            "-f",
            str(dockerfile),
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={LOCAL_BASE}",
        )
        if done.returncode != 0:
            raise SystemExit(f"building {image} failed:\n{done.stderr[-4000:]}")
        log(f"{image} built and loaded in {time.monotonic() - started:.0f}s")
