#!/usr/bin/env python3
"""docs/configuration.md from the chart's values.schema.json (the schema is the contract).

    python3 hack/chart_docs.py           # write the file
    python3 hack/chart_docs.py --check   # exit 1 when it is out of date (tests/helm runs this)

Stdlib only: the schema carries each key's description, constraints and default (a test checks
the defaults against values.yaml), so no YAML parser is needed here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "deploy" / "helm" / "hlsforge"
CONFIG_DOC = REPO / "docs" / "configuration.md"
CONFIG_HEADER = """# Configuration reference

Generated from `deploy/helm/hlsforge/values.schema.json` by `python3 hack/chart_docs.py`
(`make chart-docs`; `tests/helm` fails when this file is out of date). Defaults are in
`deploy/helm/hlsforge/values.yaml`, where every key is commented. A wrong type, an unknown key or
a value outside its enum fails `helm install`/`helm template` with the key's path, e.g.
`at '/operator/replicas': got string, want integer`.

| key | type | default | allowed | description |
| --- | --- | --- | --- | --- |
"""


def _schema_type(node: dict[str, object]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind is None and "anyOf" in node:
        return "quantity"
    return str(kind)


def _allowed(node: dict[str, object]) -> str:
    parts = []
    enum = node.get("enum")
    if isinstance(enum, list):
        parts.append(", ".join(f"`{v}`" for v in enum))
    for key, label in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<=")):
        if key in node:
            parts.append(f"{label} {node[key]}")
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    return "; ".join(parts)


def config_rows(node: dict[str, object], prefix: str = "") -> list[str]:
    rows: list[str] = []
    props = node.get("properties")
    if not isinstance(props, dict):
        return rows
    for key, child in props.items():
        path = f"{prefix}{key}"
        description = str(child.get("description", "")).replace("|", "\\|")
        if child.get("type") == "object" and isinstance(child.get("properties"), dict):
            rows.append(f"| `{path}` | object | | | {description} |")
            rows += config_rows(child, f"{path}.")
        else:
            allowed = _allowed(child).replace("|", "\\|")
            default = f"`{json.dumps(child['default'])}`" if "default" in child else ""
            kind = _schema_type(child)
            rows.append(f"| `{path}` | {kind} | {default} | {allowed} | {description} |")
    return rows


def config_doc() -> str:
    """docs/configuration.md's text, from the chart's values.schema.json."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    rules = (
        "\n## Rules across keys\n\n"
        "- `storage.mode: s3` requires `storage.s3.bucket` (3+ characters) and "
        "`storage.s3.region`.\n"
    )
    return CONFIG_HEADER + "\n".join(config_rows(schema)) + "\n" + rules


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        if CONFIG_DOC.read_text() != config_doc():
            print(f"{CONFIG_DOC} is out of date: run python3 hack/chart_docs.py", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    CONFIG_DOC.write_text(config_doc())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
