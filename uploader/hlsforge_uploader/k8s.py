"""The one module of the uploader that talks to Kubernetes: TranscodeJobs are the only store.

Calls are synchronous (the official client); routes run them in a worker thread. The watch
runs in one daemon thread for the whole process (``JobWatch``) and hands every change to a
callback; the asyncio side (``jobs.broadcast.Broadcaster``) fans it out to any number of clients.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from hlsforge_api.v1alpha1 import GROUP, PLURAL, VERSION

log = logging.getLogger("hlsforge.uploader.k8s")

Obj = dict[str, Any]


class JobExists(Exception):  # noqa: N818 - a state, not a failure
    """A TranscodeJob with this name already exists."""


class JobRejected(Exception):  # noqa: N818 - the API server's verdict
    """The API server refused the manifest (CRD schema or CEL rule): the client's fault."""


class KubeError(Exception):
    """Any other failure of the Kubernetes API (network, RBAC, a missing namespace, 5xx)."""


class KubeUnsure(KubeError):  # noqa: N818 - a kind of KubeError
    """A failure after which the call may have taken effect: the connection broke, or the
    API server answered 5xx (it may have stored the object before failing)."""


def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """In-cluster credentials inside a pod, else ``KUBECONFIG`` / ``~/.kube/config``."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    return config.new_client_from_config(kubeconfig)  # type: ignore[no-untyped-call,no-any-return]


def _fail(exc: ApiException, what: str) -> Exception:
    if exc.status == 409:
        return JobExists(what)
    if exc.status in (400, 422):
        try:
            message = json.loads(exc.body or "{}").get("message", exc.reason)
        except ValueError:
            message = exc.reason
        return JobRejected(str(message))
    if not exc.status or exc.status >= 500:
        return KubeUnsure(f"{what}: {exc.status} {exc.reason}")
    return KubeError(f"{what}: {exc.status} {exc.reason}")


class JobStore:
    """TranscodeJobs of one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)

    def create(self, manifest: Obj) -> Obj:
        """Create one TranscodeJob. ``KubeUnsure``: the connection broke, or the API server
        failed (5xx), maybe after the job was stored; ask ``get`` which it was."""
        name = manifest["metadata"]["name"]
        try:
            created: Any = self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, manifest
            )
        except ApiException as exc:
            raise _fail(exc, f"create {name}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeUnsure(f"create {name}: the connection failed ({exc})") from None
        return dict(created)

    def get(self, name: str) -> Obj | None:
        try:
            found: Any = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _fail(exc, f"get {name}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(f"get {name}: the connection failed ({exc})") from None
        return dict(found)

    def list_page(
        self, limit: int | None = None, cont: str | None = None, selector: str | None = None
    ) -> tuple[list[Obj], str | None, str]:
        """One page: (items, continue token or None, the list's resourceVersion)."""
        kwargs: dict[str, Any] = {}
        if limit:
            kwargs["limit"] = limit
        if cont:
            kwargs["_continue"] = cont
        if selector:
            kwargs["label_selector"] = selector
        try:
            listed: Any = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, **kwargs
            )
        except ApiException as exc:
            if exc.status == 410:
                raise JobRejected("the continue token has expired; start again") from None
            raise _fail(exc, "list") from None
        meta = listed.get("metadata") or {}
        items = list(listed.get("items") or [])
        return items, meta.get("continue") or None, meta["resourceVersion"]

    def list_all(self) -> tuple[list[Obj], str]:
        items: list[Obj] = []
        cont: str | None = None
        while True:
            page, cont, rv = self.list_page(limit=500, cont=cont)
            items += page
            if not cont:
                return items, rv

    def delete(self, name: str, uid: str | None = None) -> bool:
        """Delete ``name`` (only the object with ``uid``, when given: one checked before is
        never confused with another of the same name). False when it was not there."""
        options = client.V1DeleteOptions(
            propagation_policy="Background",
            preconditions=client.V1Preconditions(uid=uid) if uid else None,
        )
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, body=options
            )
        except ApiException as exc:
            if exc.status == 404 or (uid and exc.status == 409):
                return False
            raise _fail(exc, f"delete {name}") from None
        return True


Snapshot = Callable[[list[Obj], str], None]
"""Called with every object and the list's resourceVersion after each (re)list."""
Change = Callable[[str, Obj], None]
"""Called with ADDED/MODIFIED/DELETED/BOOKMARK and the object, in the API server's order."""


class JobWatch:
    """List, then watch from the list's version; re-watch on timeouts, re-list on 410 Gone.

    One instance per process: every WebSocket client is served from it.
    """

    def __init__(
        self,
        store: JobStore,
        on_snapshot: Snapshot,
        on_change: Change,
        timeout_seconds: int = 300,
    ) -> None:
        self.store = store
        self.on_snapshot = on_snapshot
        self.on_change = on_change
        self.timeout_seconds = timeout_seconds
        self._stop = threading.Event()
        self._resp: Any = None
        self._thread = threading.Thread(target=self._run, name="tj-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        resp = self._resp
        if resp is not None:
            # Best effort: unblocks the thread's read; it is a daemon anyway.
            with contextlib.suppress(Exception):
                resp.shutdown()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        rv: str | None = None
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if rv is None:
                    items, rv = self.store.list_all()
                    self.on_snapshot(items, rv)
                rv = self._watch(rv)
                backoff = 0.5
            except Exception as exc:  # the watch must outlive any failure
                if self._stop.is_set():
                    return
                log.warning("watch failed (%s); re-listing in %.1fs", exc, backoff)
                rv = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _watch(self, rv: str) -> str | None:
        """One watch request; returns the version to resume from (None: re-list)."""
        resp: Any = self.store.custom.list_namespaced_custom_object(
            GROUP,
            VERSION,
            self.store.namespace,
            PLURAL,
            watch=True,
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=self.timeout_seconds,
            _preload_content=False,
            _request_timeout=(10, self.timeout_seconds + 30),
        )
        self._resp = resp
        started = time.monotonic()
        try:
            for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]
                if self._stop.is_set():
                    return rv
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise KubeError(f"watch error: {obj.get('message')}")
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                self.on_change(str(kind), obj)
        finally:
            self._resp = None
            resp.release_conn()
        log.debug("watch ended after %.0fs at %s", time.monotonic() - started, rv)
        return rv
