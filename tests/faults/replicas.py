"""Two operator replicas with kopf peering, as a Deployment of two runs them: one active,
one standing by. Rows 1.x SIGKILL every replica at once, then start a new pair."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.integration.harness import OperatorProcess, free_port, wait_for
from tests.integration.operator_env import Env

PEERING = {"HLSFORGE_PEERING_LIFETIME": "10"}


@dataclass
class Replicas:
    """Pairs of peered operators in ``env``'s namespace; every process started is stopped by
    ``stop``. A new pair outranks the one before (kopf pauses a replica while a peer of higher
    priority is alive), so a restarted pair acts at once, as a rolled Deployment would once
    the dead peers' records expire."""

    env: Env
    started: list[OperatorProcess] = field(default_factory=list)
    pair: list[OperatorProcess] = field(default_factory=list)
    generation: int = 0

    def start(self, **settings: str) -> Replicas:
        """A new active/standby pair (``settings`` e.g. ``HLSFORGE_FAILPOINTS``)."""
        if not self.started:
            self.env.operator.stop()  # the fixture's standalone operator
            self.env.cluster.apply(
                {
                    "apiVersion": "kopf.dev/v1",
                    "kind": "KopfPeering",
                    "metadata": {"name": "hlsforge", "namespace": self.env.namespace},
                }
            )
        self.generation += 1
        base = 100 * self.generation
        self.pair = []
        for role, priority in (("active", base + 50), ("standby", base)):
            extra = {**PEERING, **settings, "HLSFORGE_PEERING_PRIORITY": str(priority)}
            if role == "standby":
                extra["HLSFORGE_METRICS_PORT"] = str(free_port())
            proc = self.env.new_operator(f"{role}-{self.generation}", args=[], settings=extra)
            self.pair.append(proc.start())
            self.started.append(proc)
            if role == "active":
                time.sleep(2)  # the active one first: the standby then sees a higher peer
        self.env.operator = self.pair[0]
        return self

    def wait_log(self, text: str, timeout: float = 180) -> OperatorProcess:
        """The replica of the current pair whose log shows ``text``."""

        def found() -> OperatorProcess | None:
            return next((p for p in self.pair if text in p.log_tail(2000)), None)

        return wait_for(f"an operator log line {text!r}", found, timeout=timeout, every=0.2)

    def kill_all(self) -> None:
        """SIGKILL every replica at once (the whole Deployment lost)."""
        for proc in self.pair:
            proc.kill()

    def stop(self) -> None:
        for proc in self.started:
            proc.stop()
