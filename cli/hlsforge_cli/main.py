"""The ``hlsforge`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hlsforge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("crd", help="print the TranscodeJob CustomResourceDefinition (YAML)")
    from hlsforge_cli import transcode, upload

    transcode.add_parser(sub)
    upload.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "crd":
        from hlsforge_api.crd import render_crd_yaml

        sys.stdout.write(render_crd_yaml())
        return 0
    if args.command == "transcode":
        return transcode.run(args)
    if args.command == "upload":
        return upload.run(args)
    parser.error(f"unknown command {args.command}")  # exits with status 2


if __name__ == "__main__":
    sys.exit(main())
