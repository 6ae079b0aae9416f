"""The one module of the operator that talks to the Kubernetes API (besides kopf's watches).

The ``kubernetes`` client is synchronous; every call here is meant to run in a worker thread
(``asyncio.to_thread``) so the operator's event loop never blocks on the network.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from hlsforge_api.v1alpha1 import GROUP, PLURAL, VERSION
from hlsforge_operator import names, teardown
from hlsforge_operator.state import bounded_lines

log = logging.getLogger(__name__)


_API: client.ApiClient | None = None
_LOGS: client.ApiClient | None = None


def load_config(log_streams: int = 8) -> None:
    """In a pod: the ServiceAccount; elsewhere: the kubeconfig (``$KUBECONFIG``).

    One ApiClient (one connection pool) serves every call: a client per call would pay a
    TLS handshake for each Job created or status written. Log streams get a client of their
    own, with a pool of ``log_streams`` connections: a followed log holds its connection for
    the pod's whole run and must not crowd the others out.
    """
    global _API, _LOGS
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    _API = client.ApiClient()
    logs = client.Configuration.get_default_copy()
    logs.connection_pool_maxsize = log_streams
    _LOGS = client.ApiClient(logs)


def _api() -> client.ApiClient:
    if _API is None:
        raise RuntimeError("k8s.load_config() was not called")
    return _API


def create_job(manifest: dict[str, Any]) -> bool:
    """Create the Job; False when it already exists (a re-run handler: not an error)."""
    meta = manifest["metadata"]
    try:
        client.BatchV1Api(_api()).create_namespaced_job(meta["namespace"], cast(Any, manifest))
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    return True


def delete_job(namespace: str, name: str) -> bool:
    """Delete the Job and (foreground) its pods; False when it is already gone."""
    try:
        client.BatchV1Api(_api()).delete_namespaced_job(
            name, namespace, propagation_policy="Foreground", grace_period_seconds=10
        )
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def delete_pod(namespace: str, name: str) -> bool:
    """Delete a pod (an orphaned transcode); False when it is already gone."""
    try:
        client.CoreV1Api(_api()).delete_namespaced_pod(name, namespace, grace_period_seconds=10)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def job_exists(namespace: str, name: str) -> bool:
    try:
        client.BatchV1Api(_api()).read_namespaced_job(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def live_pods(namespace: str, transcodejob: str) -> list[str]:
    """Pods of the TranscodeJob that may still run a container (not Succeeded nor Failed),
    whether or not a Job still owns them, read from the API server (not a watch cache)."""
    listed: Any = client.CoreV1Api(_api()).list_namespaced_pod(
        namespace, label_selector=f"{names.LABEL_JOB}={transcodejob}"
    )
    return [str(p.metadata.name) for p in listed.items if teardown.alive(p.status.phase)]


def patch_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    """Merge-patch the TranscodeJob's status subresource."""
    client.CustomObjectsApi(_api()).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": status}
    )


class LogStream:
    """A followed container log: ``lines()`` blocks until the container ends (or the stream
    breaks); ``close()``, from any thread, ends it, and so unblocks a reader in another."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def lines(self) -> Iterator[str]:
        try:
            yield from bounded_lines(self._response.stream(4096))
        finally:
            self._response.release_conn()

    def close(self) -> None:
        """The socket is shut down first: closing the buffered stream waits for its lock, which
        a read blocked in another thread holds until a byte arrives, so a pod that is silent
        (paused, hashing, publishing) would hold the caller, the event loop, just as long."""
        sock = getattr(getattr(self._response, "connection", None), "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # not SSLSocket's: no TLS state
        self._response.close()


def open_log(namespace: str, pod: str, container: str, tail_lines: int | None = None) -> LogStream:
    """Start following a container's log (blocking: run it in a thread); ``tail_lines``:
    from its last lines only, else from its start."""
    if _LOGS is None:
        raise RuntimeError("k8s.load_config() was not called")
    # With _preload_content=False the client returns the raw urllib3 response.
    response: Any = client.CoreV1Api(_LOGS).read_namespaced_pod_log(
        pod,
        namespace,
        container=container,
        follow=True,
        tail_lines=tail_lines,
        _preload_content=False,
        _request_timeout=(10, 600),
    )
    return LogStream(response)
