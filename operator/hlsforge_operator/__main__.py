"""Run the operator: ``python -m hlsforge_operator`` (the image's operator entrypoint).

Peering: replicas share the ``hlsforge`` KopfPeering object; each takes a distinct random
priority unless ``HLSFORGE_PEERING_PRIORITY`` is set, so exactly one is active and the
others stand by until its record expires (``HLSFORGE_PEERING_LIFETIME`` seconds).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from collections.abc import Sequence

import kopf

from hlsforge_operator import failpoints, handlers, k8s
from hlsforge_operator.runtime import Runtime, log_stream_threads
from hlsforge_operator.settings import OperatorSettings

PEERING_NAME = "hlsforge"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hlsforge-operator", description=__doc__)
    parser.add_argument(
        "--liveness",
        default=os.environ.get("HLSFORGE_LIVENESS", ""),
        help="liveness endpoint, e.g. http://0.0.0.0:8081/healthz",
    )
    parser.add_argument("--standalone", action="store_true", help="run without peering")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    settings = OperatorSettings()
    failpoints.arm()
    k8s.load_config(log_stream_threads(settings))
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings)
    priority = settings.peering_priority or random.randint(1, 2**30)  # noqa: S311
    kopf.run(
        registry=registry,
        memo=kopf.Memo(runtime=Runtime.start(settings)),
        clusterwide=settings.namespace is None,
        namespaces=[settings.namespace] if settings.namespace else (),
        standalone=args.standalone,
        priority=priority,
        # Naming the peering makes it mandatory in kopf, which pauses a standalone operator
        # forever (no peering resource is watched): name it only when peering is wanted.
        peering_name=None if args.standalone else PEERING_NAME,
        liveness_endpoint=args.liveness or None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
