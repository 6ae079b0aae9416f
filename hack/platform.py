#!/usr/bin/env python3
"""The one-command local install of hlsforge on the local cluster (make up / env / down).

    python3 hack/platform.py images [--tag dev]   # wheelhouse + both images, loaded into the node
    python3 hack/platform.py up                    # cluster, images, helm install, port-forward
    python3 hack/platform.py env                   # two `export` lines for HLSFORGE_URL/TOKEN
    python3 hack/platform.py down                  # undo `up` (the cluster only if `up` started it)

Why a script: `up` must leave one long-lived process behind (the port-forward, supervised so it
survives uploader restarts) and `down` must stop exactly that process, so its pid and start time
live in a pidfile under the cluster's state folder. Stdlib only, like hack/cluster.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # hack/ is the namespace package `hack`, as in hack/cluster.py

from hack.hlsplatform import forward, release  # noqa: E402 - after the path is set
from hack.hlsplatform.images import build_images  # noqa: E402
from hack.hlsplatform.settings import TAG  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    images = sub.add_parser("images")
    images.add_argument("--tag", default=TAG)
    for p in (images, sub.add_parser("up")):
        p.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    sub.choices["up"].add_argument("--skip-images", action="store_true")
    sub.add_parser("env")
    sub.add_parser("down")
    sub.add_parser("_forward")
    args = ap.parse_args(argv)
    if args.cmd == "images":
        build_images(args.tag, args.python)
        return 0
    if args.cmd == "up":
        return release.up(args.python, args.skip_images)
    if args.cmd == "env":
        return release.env()
    if args.cmd == "down":
        return release.down()
    return forward.forward_loop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
