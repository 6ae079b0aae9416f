"""Where things are and what they are called: the environment's choices, read once."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "hlsforge"
CLUSTER_PY = REPO / "hack" / "cluster.py"
SCRIPT = REPO / "hack" / "platform.py"
"""The entry point: the port-forward daemon is this script run again with `_forward`."""
BUILD = REPO / "build" / "platform"
LOCAL_BASE = "hlsforge.local/base:bookworm"
RELEASE = os.environ.get("HLSFORGE_RELEASE", "hlsforge")
NAMESPACE = os.environ.get("HLSFORGE_LOCAL_NAMESPACE", "hlsforge")
PORT = int(os.environ.get("HLSFORGE_LOCAL_PORT", "18080"))
"""Preferred local port; when it is taken, `up` picks a free one and `env` prints it."""
TAG = os.environ.get("HLSFORGE_IMAGE_TAG", "dev")
MEDIA_HOST_ROOT = Path("/var/lib/hlsforge-media")
UID = 10001
# The platform image's wheelhouse: `client` too, because uvicorn's WebSocket protocol needs
# `websockets` and the chart's `helm test` pod runs the `hlsforge` CLI.
EXTRAS = "operator,uploader,client"


def service_name() -> str:
    return f"{RELEASE}-uploader" if "hlsforge" in RELEASE else f"{RELEASE}-hlsforge-uploader"


def media_dir() -> Path:
    return MEDIA_HOST_ROOT / NAMESPACE
