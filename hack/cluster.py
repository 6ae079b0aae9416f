#!/usr/bin/env python3
"""A single-node Kubernetes cluster on this machine, bound to 127.0.0.1 (see docs/cluster.md).

    python3 hack/cluster.py deps           # apt-get install what is missing (idempotent)
    python3 hack/cluster.py build          # pinned binaries, helm, CoreDNS into the cache
    python3 hack/cluster.py up             # idempotent; waits for node Ready + default SA
    python3 hack/cluster.py down           # stops exactly what `up` started, removes state
    python3 hack/cluster.py status         # exit 0 when up and healthy
    python3 hack/cluster.py restart NAME   # stop ONE component (apiserver, etcd, kubelet,
                                           # containerd, ...), start it again with the same
                                           # flags, wait until the cluster is healthy
    python3 hack/cluster.py kubeconfig     # prints the admin kubeconfig path
    python3 hack/cluster.py path kubectl   # prints the path of a cached binary
    python3 hack/cluster.py image-build TAG CONTEXT [-f Dockerfile] [--network host]
                            [--build-arg K=V]...   # docker build + load into containerd
    python3 hack/cluster.py image-load TAG            # docker image -> containerd k8s.io
    python3 hack/cluster.py image-import ARCHIVE      # docker-save/OCI tar -> containerd

Standard library only; needs root. Caches: $HLSFORGE_CACHE (~/.cache/hlsforge);
state and logs: $HLSFORGE_STATE (/var/lib/hlsforge-cluster), logs in <state>/logs.
"""

from __future__ import annotations

import argparse
import fcntl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# hack/ is imported as the namespace package `hack` (as mypy sees it), never as top-level
# modules: `hack/platform.py` would otherwise shadow the standard library's `platform`.
sys.path.insert(0, str(REPO))

from hack.hlscluster import build, images  # noqa: E402 - after the path is set
from hack.hlscluster.lifecycle import Cluster  # noqa: E402
from hack.hlscluster.packages import install_apt_packages  # noqa: E402
from hack.hlscluster.procs import ClusterError  # noqa: E402
from hack.hlscluster.settings import Settings  # noqa: E402


@contextmanager
def locked(s: Settings) -> Iterator[None]:
    """One `up`/`down` at a time (a test session and a developer may race)."""
    lock = s.state.parent / f".{s.state.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser(
        "build",
        help="build the pinned binaries, helm, the S3 server and the NetworkPolicy enforcer",
    )
    sub.add_parser("deps", help="apt-get install the missing Debian packages")
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("restart", help="restart one component in place").add_argument("component")
    sub.add_parser("kubeconfig")
    sub.add_parser("path").add_argument("binary")
    ib = sub.add_parser("image-build")
    ib.add_argument("tag")
    ib.add_argument("context", type=Path)
    ib.add_argument("-f", "--file", type=Path, default=None)
    ib.add_argument("--network", default="none", choices=["none", "host"])
    ib.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    sub.add_parser("image-load").add_argument("tag")
    sub.add_parser("s3-image", help="load the S3 server image into the node; print its name")
    sub.add_parser("image-import").add_argument("archive", type=Path)
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    s = Settings.from_env(REPO)
    c = Cluster(s)
    if args.cmd == "kubeconfig":
        print(s.admin_kubeconfig)
        return 0
    if args.cmd == "path":
        print(s.binary(args.binary))
        return 0
    if args.cmd == "status":
        print(c.status_text())
        return 0 if c.healthy() else 1
    if args.cmd == "deps":
        install_apt_packages()
        return 0
    if args.cmd == "build":
        build.ensure_binaries(s)
        build.ensure_helm(s)
        build.ensure_coredns(s)
        build.ensure_versitygw(s)
        build.ensure_netpol(s)
        return 0
    if args.cmd == "image-build":
        build_args = dict(arg.split("=", 1) for arg in args.build_arg)
        images.build_and_load(s, args.tag, args.context, args.file, args.network, build_args)
        return 0
    if args.cmd == "s3-image":
        build.ensure_versitygw(s)
        print(images.ensure_s3_image(s))
        return 0
    if args.cmd == "image-load":
        images.load_from_docker(s, args.tag)
        return 0
    if args.cmd == "image-import":
        images.import_archive(s, args.archive)
        return 0
    with locked(s):
        if args.cmd == "down":
            c.down()
            return 0
        if args.cmd == "restart":
            try:
                c.restart(args.component)
            except (ClusterError, RuntimeError) as exc:
                print(f"[cluster] restart FAILED: {c.failure_report(exc)}", file=sys.stderr)
                return 1
            return 0
        if c.healthy():
            print(f"[cluster] already up; KUBECONFIG={s.admin_kubeconfig}", file=sys.stderr)
            return 0
        try:
            c.up()
        except (ClusterError, RuntimeError) as exc:
            print(f"[cluster] FAILED: {c.failure_report(exc)}", file=sys.stderr)
            c.write_status("failed")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
