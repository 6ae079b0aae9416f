"""kopf handlers: wiring only. Decisions live in ``reconcile``, ``queue``, ``admission`` and
``jobspec``; side effects in ``actions``; process state in ``runtime``.

- Three watch indexes keep the operator's view of TranscodeJobs, their Jobs and their pods
  in memory (server-side label selectors: only what we created is watched).
- One timer per unfinished TranscodeJob reconciles it every ``reconcile_interval`` seconds
  from that view; it writes status only when something changed (<= 1 write/s per job).
- One daemon per running TranscodeJob follows the transcoder's log for progress, so the
  transcoder pod needs no Kubernetes credentials.
- A delete handler (kopf's finalizer) removes the Job, partial attempts and, per the
  retention setting, the output.

``register`` attaches them to a registry with the settings read at start-up (``__main__``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from hlsforge_api.errors import StorageError
from hlsforge_api.v1alpha1 import (
    GROUP,
    PLURAL,
    VERSION,
    Phase,
    SourcePolicy,
    TranscodeJobSpec,
    TranscodeJobStatus,
)
from hlsforge_operator import actions, admission, k8s, metrics, names, orphans, teardown
from hlsforge_operator.queue import QueueEntry, slot_free
from hlsforge_operator.reconcile import Action, Observation, reconcile, rejected
from hlsforge_operator.runtime import Key, Runtime
from hlsforge_operator.settings import OperatorSettings
from hlsforge_operator.state import (
    holds_slot,
    job_state,
    newest_pod,
    pod_state,
    slot_release_grace,
    waiting_for_node,
)
from hlsforge_storage.claim_spaces import ClaimError
from hlsforge_storage.claims import Owner

SELECTOR = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
_WAITING = (Phase.PENDING, Phase.QUEUED)
_ENDED = (Phase.SUCCEEDED, Phase.FAILED)
_CR = (GROUP, VERSION, PLURAL)
RETRY_AFTER_ERROR = 5.0
"""Seconds before a reconciliation that raised (the API server unreachable while it restarts)
runs again; kopf's default of 60 s froze a job's status for a minute after every blip."""
RESUME_TAIL_LINES = 20
"""A log followed again (its stream ended, its pod still runs) is read from its last lines."""
# kopf may keep its own keys in status; only ours are read back.
_STATUS_FIELDS = frozenset(f.alias or n for n, f in TranscodeJobStatus.model_fields.items())


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    """Attach every handler to ``registry``; intervals come from ``settings``."""
    managed = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
    # A registry of our own gets none of kopf's default activities: log in as the client does.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    kopf.on.startup(registry=registry)(configure)
    kopf.index("batch", "v1", "jobs", labels=managed, registry=registry)(jobs)
    kopf.index("", "v1", "pods", labels=managed, registry=registry)(pods)
    kopf.index(GROUP, VERSION, PLURAL, registry=registry)(transcodejobs)
    # kopf passes indexes as extra keyword arguments its handler protocols do not declare.
    every = settings.reconcile_interval
    timer = kopf.timer(*_CR, interval=every, when=_unsettled, backoff=RETRY_AFTER_ERROR,
                       registry=registry)  # fmt: skip
    timer(reconcile_job)
    daemon = kopf.daemon(*_CR, when=_running, registry=registry, cancellation_timeout=5)
    daemon(follow_progress)  # type: ignore[arg-type]
    kopf.on.delete(GROUP, VERSION, PLURAL, timeout=600, registry=registry)(cleanup)


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ours = _runtime(memo).settings
    settings.persistence.finalizer = names.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.peering.lifetime = ours.peering_lifetime
    settings.peering.stealth = True
    # Watches can hang silently; make them reconnect.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.watching.label_selectors["batch", "jobs"] = SELECTOR
    settings.watching.label_selectors["", "v1", "pods"] = SELECTOR
    settings.posting.level = logging.WARNING
    metrics.serve(_runtime(memo).phases, ours.metrics_address, ours.metrics_port)


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


def _key_of(namespace: str | None, labels: kopf.Labels) -> Key:
    return (namespace or "", labels.get(names.LABEL_JOB, ""))


def jobs(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> Any:
    return {_key_of(namespace, labels): job_state(dict(body))}


def pods(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> Any:
    return {_key_of(namespace, labels): pod_state(dict(body))}


def transcodejobs(
    namespace: str | None,
    name: str | None,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    memo: kopf.Memo,
    **_: Any,
) -> Any:
    key = (namespace or "", name or "")
    phase = Phase(status.get("phase") or Phase.PENDING)
    _runtime(memo).phases[key] = phase
    # A requeued job waits behind the jobs that were already waiting.
    created = datetime.fromisoformat(status.get("requeuedAt") or meta["creationTimestamp"])
    entry = QueueEntry(key[0], key[1], int(spec.get("priority") or 0), created)
    return {"queue": (entry, phase)}


def _settled(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    phase = status.get("phase")
    if phase == Phase.FAILED:
        return True
    if phase == Phase.SUCCEEDED:
        return spec.get("sourcePolicy") == SourcePolicy.RETAIN or bool(status.get("sourceDeleted"))
    return False


def _unsettled(**kwargs: Any) -> bool:
    return not _settled(**kwargs)


def _running(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") == Phase.RUNNING


def _slot_free(
    runtime: Runtime, key: Key, jobs: kopf.Index[Key, Any], pods: kopf.Index[Key, Any], queue: Any
) -> bool:
    now = datetime.now(UTC)
    grace = slot_release_grace(runtime.settings.unschedulable_timeout_seconds)
    return slot_free(
        key,
        ((entry, phase in _WAITING) for entry, phase in queue),
        with_job=set(jobs),
        active={
            k for k in jobs if any(holds_slot(j, pods.get(k, ()), now, grace) for j in jobs[k])
        },
        waiting_for_node={
            k
            for k in jobs
            if waiting_for_node(pods.get(k, ()), now, grace)
            and any(not j.finished and not j.deleting for j in jobs[k])
        },
        reserved=runtime.reserved,
        cap=runtime.settings.max_running,
    )


def _errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


async def reconcile_job(name: str, namespace: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    """One timer run; none starts once the delete handler has, and the delete handler waits
    for the one in flight (kopf runs them in parallel), so no Job is created and no output
    published behind its cleanup."""
    runtime, key = _runtime(memo), (namespace or "", name)
    if key in runtime.deleting:
        return
    runtime.reconciling.add(key)
    try:
        await _reconcile(name=name, namespace=namespace, memo=memo, **kwargs)
    finally:
        runtime.reconciling.discard(key)


async def _reconcile(
    name: str,
    namespace: str | None,
    uid: str,
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    memo: kopf.Memo,
    jobs: kopf.Index[Key, Any],
    pods: kopf.Index[Key, Any],
    transcodejobs: kopf.Index[str, Any],
    logger: kopf.Logger,
    **_: Any,
) -> None:
    runtime = _runtime(memo)
    namespace = namespace or ""
    key, owner = (namespace, name), Owner(namespace, name, uid)
    now, generation = datetime.now(UTC), meta.get("generation")
    current = TranscodeJobStatus.model_validate(
        {k: v for k, v in status.items() if k in _STATUS_FIELDS}
    )
    try:
        parsed = TranscodeJobSpec.model_validate(dict(spec))
    except ValidationError as exc:
        refused = rejected(current, now, generation, _errors(exc))
        await actions.write(body, namespace, name, current, refused, logger)
        return
    if current.phase in _WAITING and uid not in runtime.claimed:
        message = admission.refusal(parsed, namespace, runtime.settings, runtime.ownership.areas)
        refusal = (
            actions.Refusal("InvalidSpec", message)
            if message is not None
            else await actions.claim(runtime, owner, parsed)
        )
        if refusal is not None:
            refused = rejected(current, now, generation, refusal.message, refusal.reason)
            await actions.write(body, namespace, name, current, refused, logger)
            return

    job_list = list(jobs.get(key, ()))
    if job_list:
        runtime.reserved.discard(key)
    job = job_list[0] if job_list else None
    current_pods = tuple(pods.get(key, ()))
    seen = runtime.pods_seen.setdefault(key, set())
    seen.update(p.uid or p.name for p in current_pods)
    observed = Observation(
        spec=parsed,
        status=current,
        generation=generation,
        now=now,
        job=job,
        pods=current_pods,
        pods_seen=len(seen),
        progress=runtime.progress.get(key),
        unschedulable_timeout=runtime.settings.unschedulable_timeout_seconds,
        unschedulable_requeues=runtime.settings.unschedulable_requeues,
    )
    if job is None and key in runtime.reserved:
        return  # created a moment ago; wait for the watch to show it
    if job is None and current.phase in _WAITING:
        # Only the decision and the reservation of the slot are serialised; the API call is
        # not, so a burst of admissions does not queue behind one lock.
        async with runtime.admission:
            free = _slot_free(runtime, key, jobs, pods, transcodejobs.get("queue", ()))
            outcome = reconcile(replace(observed, slot_free=free))
            if outcome.action is Action.CREATE_JOB:
                runtime.reserved.add(key)
        if outcome.action is Action.CREATE_JOB:
            await actions.create_job(runtime, key, uid, parsed)
    else:
        outcome = reconcile(observed)
        outcome = await actions.act(runtime, owner, parsed, outcome, now, generation)
        ended = outcome.status.phase in _ENDED
        await orphans.delete(namespace, current_pods, logger, running_too=ended)
        if outcome.status.phase in _ENDED and current.phase not in _ENDED:
            await actions.sweep_attempts(runtime, owner, parsed.output, logger)

    await actions.write(body, namespace, name, current, outcome, logger)


async def follow_progress(
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    pods: kopf.Index[Key, Any],
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Mirror the transcoder's progress lines into memory; the timer writes them out.

    The log is read in ``runtime.log_streams``, a thread pool of its own: a stream holds its
    thread for the pod's whole run, and in the default executor a few of them would stall
    every status write and Job creation (``asyncio.to_thread``) behind them."""
    runtime = _runtime(memo)
    key = (namespace or "", name)
    followed: str | None = None
    while not stopped:
        pod = newest_pod(pods.get(key, ()))
        if pod is None or not pod.running:
            await stopped.wait(1.0)
            continue
        again = pod.name == followed
        if not again:  # a new attempt: its progress starts from nothing
            runtime.progress.pop(key, None)
        followed = pod.name
        try:
            await actions.follow(runtime, key, pod.name, RESUME_TAIL_LINES if again else None)
        except Exception as exc:  # the log stream broke: follow again
            logger.warning("progress stream of %s ended: %s", pod.name, exc)
        # A stream also ends cleanly while the container runs on (the kubelet or the API
        # server restarted): follow a pod that still runs again, from its last lines.
        await stopped.wait(1.0)


async def cleanup(
    name: str,
    namespace: str | None,
    uid: str,
    spec: kopf.Spec,
    memo: kopf.Memo,
    logger: kopf.Logger,
    pods: kopf.Index[Key, Any] | None = None,
    **_: Any,
) -> None:
    """Stop the transcode (Job and pods), then, once nothing of the job can write any more
    (``teardown``), clean up inside the job's own claims only: partial attempts always, the
    finished output per retention; release the claims."""
    runtime = _runtime(memo)
    namespace = namespace or ""
    job, key = names.job_name(name), (namespace, name)
    runtime.deleting.add(key)
    await asyncio.to_thread(k8s.delete_job, namespace, job)
    await orphans.delete(namespace, pods.get(key, ()) if pods else (), logger, running_too=True)
    wait = teardown.wait_reason(
        reconciling=key in runtime.reconciling,
        job_present=await asyncio.to_thread(k8s.job_exists, namespace, job),
        live_pods=await asyncio.to_thread(k8s.live_pods, namespace, name),
    )
    if wait is not None:  # cleaning now could race a writer: ask again (each step repeats)
        raise kopf.TemporaryError(wait, delay=2)
    owner = Owner(namespace, name, uid)
    output, source = spec.get("output"), spec.get("source")
    try:
        if output:
            await asyncio.to_thread(actions.clean_output, runtime, owner, output, logger)
        if source:
            await asyncio.to_thread(runtime.ownership.release, source, owner)
    except (StorageError, ClaimError) as exc:
        raise kopf.TemporaryError(f"could not clean up: {exc}", delay=10) from exc
    runtime.forget((namespace, name), uid)
