"""One row of the fault table, and the table rendered from the rows a run recorded. Pure.

A row is a test: the fault, when it strikes, what must hold, what was seen and how long the
platform took to recover (from the fault to the moment the row's invariants held). Each test
writes its row as JSON (tests may run in several processes); the session that ends last
renders every row found into ``artifacts/faults.md`` and prints it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class FaultRow:
    number: str
    """``<group>.<n>``, the issue's numbering (``1.2`` is the second operator kill)."""
    fault: str
    when: str
    must_hold: str
    seen: list[str] = field(default_factory=list)
    outcome: str = "not run"
    """``passed``, ``failed``, ``error`` or ``skipped`` once the test ended."""
    recovery_seconds: float | None = None
    test: str = ""
    started: float = field(default_factory=time.time)
    """Wall-clock start and end (epoch seconds): the table's runtime spans every row."""
    ended: float | None = None
    struck: float | None = field(default=None, repr=False)

    def strike(self) -> None:
        """The fault happens now; recovery is timed from here."""
        self.struck = time.monotonic()

    def recovered(self) -> None:
        """Everything that must hold holds now (the first call counts)."""
        if self.struck is not None and self.recovery_seconds is None:
            self.recovery_seconds = round(time.monotonic() - self.struck, 1)

    def saw(self, what: str) -> None:
        self.seen.append(what)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("struck")
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FaultRow:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _order(number: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in number.split("."))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def runtime_seconds(rows: list[FaultRow]) -> float | None:
    """From the first row's start to the last row's end (rows run in parallel)."""
    ends = [r.ended for r in rows if r.ended is not None]
    return max(ends) - min(r.started for r in rows) if ends else None


def render(rows: list[FaultRow]) -> str:
    """The table as Markdown, rows in the issue's order."""
    lines = [
        "# Fault table",
        "",
        "| # | Fault | When | What must hold | What was seen | Recovery | Result |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (_order(r.number), r.when)):
        recovery = "-" if row.recovery_seconds is None else f"{row.recovery_seconds:.1f} s"
        seen = "; ".join(row.seen) or "-"
        lines.append(
            f"| {row.number} | {_cell(row.fault)} | {_cell(row.when)} | {_cell(row.must_hold)} "
            f"| {_cell(seen)} | {recovery} | {row.outcome} |"
        )
    passed = sum(r.outcome == "passed" for r in rows)
    lines += ["", f"{passed} of {len(rows)} rows passed."]
    runtime = runtime_seconds(rows)
    if runtime is not None:
        lines.append(f"The table's own runtime: {runtime:.0f} s (rows run in parallel).")
    return "\n".join(lines) + "\n"


def load(folder: Path) -> list[FaultRow]:
    return [FaultRow.from_json(p.read_text()) for p in sorted(folder.glob("*.json"))]
