"""A test namespace with its media volume, a TranscodeJob client and a running operator.

``operator_env_in`` is the fixture body most operator tests start from; ``Api`` is the
TranscodeJob/Job/pod access they assert through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tests.integration.conftest import KubeCluster
from tests.integration.harness import (
    ARTIFACTS,
    MediaVolume,
    OperatorProcess,
    free_port,
    make_clip,
    media_namespace,
    operator_env,
    wait_for,
)


class Api:
    """Typed-enough access to TranscodeJobs, Jobs and pods through the Python client."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        api_client = config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
        self.custom = client.CustomObjectsApi(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace

    def create_tj(self, name: str, **spec: Any) -> None:
        body = {
            "apiVersion": "hlsforge.io/v1alpha1",
            "kind": "TranscodeJob",
            "metadata": {"name": name},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(
            "hlsforge.io", "v1alpha1", self.namespace, "transcodejobs", body
        )

    def tj(self, name: str) -> dict[str, Any] | None:
        try:
            found: Any = self.custom.get_namespaced_custom_object(
                "hlsforge.io", "v1alpha1", self.namespace, "transcodejobs", name
            )
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(found)

    def status(self, name: str) -> dict[str, Any]:
        found = self.tj(name)
        return dict(found.get("status") or {}) if found else {}

    def delete_tj(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            "hlsforge.io", "v1alpha1", self.namespace, "transcodejobs", name
        )

    def jobs(self) -> list[Any]:
        return list(self.batch.list_namespaced_job(self.namespace).items)

    def pods(self, selector: str = "app.kubernetes.io/managed-by=hlsforge-operator") -> list[Any]:
        return list(self.core.list_namespaced_pod(self.namespace, label_selector=selector).items)

    def events(self, name: str) -> list[str]:
        listed = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        )
        return [str(e.reason) for e in listed.items]

    def wait_phase(self, name: str, phases: set[str], timeout: float) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status.get("phase") in phases else None

        try:
            return wait_for(f"{name} in {sorted(phases)}", reached, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; status now {json.dumps(self.status(name))}") from None


def wait_phase_or_log(
    api: Api, operator: OperatorProcess, name: str, phases: set[str], timeout: float
) -> dict[str, Any]:
    """``api.wait_phase``, with the operator's log tail in the failure message."""
    try:
        return api.wait_phase(name, phases, timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- operator log ---\n{operator.log_tail()}") from None


@dataclass
class Env:
    """One test namespace with its media volume, an API client and a running operator."""

    cluster: KubeCluster
    namespace: str
    media: MediaVolume
    api: Api
    operator: OperatorProcess
    metrics_port: int

    def operator_env(self, **extra: str) -> dict[str, str]:
        return operator_env(
            self.cluster, self.namespace, self.media.root, self.metrics_port, **extra
        )

    def new_operator(
        self, name: str, args: list[str] | None = None, settings: dict[str, str] | None = None
    ) -> OperatorProcess:
        return OperatorProcess(
            env=self.operator_env(**(settings or {})),
            log_path=ARTIFACTS / f"operator-{self.namespace}-{name}.log",
            args=args if args is not None else ["--standalone"],
        )

    def wait_phase(self, name: str, phases: set[str], timeout: float = 240) -> dict[str, Any]:
        return wait_phase_or_log(self.api, self.operator, name, phases, timeout)

    def wait_source_deleted(self, name: str) -> dict[str, Any]:
        """Succeeded is persisted before the source is deleted, one reconciliation later."""
        return wait_for(
            f"{name}'s source to be deleted",
            lambda: (s := self.api.status(name)).get("sourceDeleted") and s,
            timeout=30,
        )

    def clip(self, name: str, seconds: float = 4, **kwargs: Any) -> str:
        make_clip(self.media.root / "uploads" / name, seconds, **kwargs)
        return f"uploads/{name}"


def operator_env_in(cluster: KubeCluster, prefix: str, **operator_settings: str) -> Iterator[Env]:
    """A fresh namespace and media volume, and an operator watching it (stopped after)."""
    namespace, media = media_namespace(cluster, prefix)
    env = Env(
        cluster,
        namespace,
        media,
        Api(cluster.kubeconfig, namespace),
        OperatorProcess(env={}, log_path=Path()),
        free_port(),
    )
    env.operator = env.new_operator("main", settings=operator_settings).start()
    try:
        yield env
    finally:
        env.operator.stop()
        media.remove(cluster)
