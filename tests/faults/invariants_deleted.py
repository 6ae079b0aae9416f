"""What must hold once a TranscodeJob was deleted mid-job (rows 9.x): nothing of it is left.

Its pods and its Job are gone (not only asked to stop); on the volume there is no output
folder, no ``DEST.tmp-*`` attempt, no work folder ``<work_dir>/<uid>`` and no claim record
of it; the source is kept. Checked again for a while after the TranscodeJob disappeared: a
writer still running would make something appear after the operator's cleanup.
"""

from __future__ import annotations

import time
from typing import Any

from tests.faults.invariants import work_folders
from tests.integration.operator_env import Env

WORK_DIR = ".hlsforge/work"
CLAIMS_DIR = ".hlsforge/claims"


def leftovers(env: Env, name: str, uid: str, *, source: str, output: str) -> list[str]:
    """Everything of the deleted job still there (empty: nothing is)."""
    found: list[str] = []
    selector = f"hlsforge.io/transcodejob={name}"
    found += [f"pod {p.metadata.name} ({p.status.phase})" for p in env.api.pods(selector)]
    listed: Any = env.api.batch.list_namespaced_job(env.namespace, label_selector=selector)
    jobs: list[Any] = listed.items
    found += [f"Job {j.metadata.name}" for j in jobs]
    dest = env.media.root / output
    if dest.exists():
        found.append(f"output {output}")
    found += [f"attempt {p.name}" for p in work_folders(env, output)]
    work = env.media.root / WORK_DIR / uid
    if work.exists():
        found.append(f"work folder {WORK_DIR}/{uid}")
    claims = env.media.root / CLAIMS_DIR
    for record in sorted(claims.rglob("*.json")) if claims.is_dir() else []:
        if uid in record.read_text(errors="replace"):
            found.append(f"claim {record.relative_to(claims)}")
    if not (env.media.root / source).is_file():
        found.append(f"source {source} LOST")
    return found


def check_deleted(
    env: Env, name: str, uid: str, *, source: str, output: str, watch: float = 5.0
) -> list[str]:
    """Assert nothing of the deleted job is left, now and for ``watch`` seconds after (a
    late writer would show); returns what was seen, for the table."""
    assert env.api.tj(name) is None, f"{name} still exists"
    deadline = time.monotonic() + watch
    while True:
        left = leftovers(env, name, uid, source=source, output=output)
        assert left == [], f"left after {name} was deleted: {left}"
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    return [
        "pods and Job gone",
        "no output, attempt, work folder or claim",
        f"nothing appeared in {watch:.0f} s after",
        "source kept",
    ]
