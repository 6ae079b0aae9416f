"""kopf handlers: wiring only. Decisions live in ``reconcile``, ``queue`` and ``jobspec``.

- Three watch indexes keep the operator's view of TranscodeJobs, their Jobs and their pods
  in memory (server-side label selectors: only what we created is watched).
- One timer per unfinished TranscodeJob reconciles it every ``reconcile_interval`` seconds
  from that view; it writes status only when something changed (<= 1 write/s per job).
- One daemon per running TranscodeJob follows the transcoder's log for progress, so the
  transcoder pod needs no Kubernetes credentials.
- A delete handler (kopf's finalizer) removes the Job, partial attempts and, per the
  retention setting, the output.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from hlsforge_api.v1alpha1 import (
    GROUP,
    PLURAL,
    VERSION,
    Phase,
    SourcePolicy,
    TranscodeJobSpec,
    TranscodeJobStatus,
)
from hlsforge_operator import admission, jobspec, k8s, metrics, names
from hlsforge_operator.queue import QueueEntry, admits
from hlsforge_operator.reconcile import (
    Action,
    Observation,
    Outcome,
    after_source_deleted,
    after_verify,
    reconcile,
)
from hlsforge_operator.settings import OperatorSettings, OutputRetention
from hlsforge_operator.state import PodState, Progress, job_state, pod_state, progress_from_line
from hlsforge_operator.storage import MediaStore, S3Store, StorageError, Stores, VolumeStore
from hlsforge_storage.claims import (
    BucketSpace,
    ClaimConflictError,
    ClaimError,
    Owner,
    Ownership,
    VolumeSpace,
)
from hlsforge_storage.s3 import S3Objects
from hlsforge_storage.s3config import S3Config, S3ConfigError

SETTINGS = OperatorSettings()
Key = tuple[str, str]
SELECTOR = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
# kopf may keep its own keys in status; only ours are read back.
_STATUS_FIELDS = frozenset(f.alias or n for n, f in TranscodeJobStatus.model_fields.items())


@dataclass
class Runtime:
    """Process-wide state shared by all handlers (kopf's memo holds it)."""

    settings: OperatorSettings
    store: MediaStore
    ownership: Ownership
    """Who owns which location (claim records); every write, sweep and delete asks it."""
    s3: S3Config | None = None
    """``HLSFORGE_S3_*`` as read at start-up; None when they are invalid (S3 jobs then fail)."""
    admission: asyncio.Lock = field(default_factory=asyncio.Lock)
    reserved: set[Key] = field(default_factory=set)
    """Jobs created but not yet seen by the Job watch: they hold a run slot."""
    progress: dict[Key, Progress] = field(default_factory=dict)
    phases: dict[Key, Phase] = field(default_factory=dict)
    pods_seen: dict[Key, set[str]] = field(default_factory=dict)
    """UIDs of every pod seen per job, so deleted (evicted) attempts still count."""
    claimed: set[str] = field(default_factory=set)
    """UIDs whose output and source this process has claimed (or found claimed for them)."""
    claiming: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Claims are decided one at a time: "is anything inside or above?" then "claim"."""

    def forget(self, key: Key, uid: str | None = None) -> None:
        for table in (self.progress, self.phases, self.pods_seen):
            table.pop(key, None)
        self.reserved.discard(key)
        self.claimed.discard(uid or "")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = names.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.peering.lifetime = SETTINGS.peering_lifetime
    settings.peering.stealth = True
    # Watches can hang silently; make them reconnect.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.watching.label_selectors["batch", "jobs"] = SELECTOR
    settings.watching.label_selectors["", "v1", "pods"] = SELECTOR
    settings.posting.level = logging.WARNING
    k8s.load_config()
    objects = _LazyObjects()
    runtime = Runtime(
        settings=SETTINGS,
        store=_stores(SETTINGS, objects),
        ownership=_ownership(SETTINGS, objects),
        s3=_s3_config(),
    )
    memo.runtime = runtime
    metrics.serve(runtime.phases, SETTINGS.metrics_address, SETTINGS.metrics_port)


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


def _key_of(namespace: str | None, labels: kopf.Labels) -> Key:
    return (namespace or "", labels.get(names.LABEL_JOB, ""))


@kopf.index("batch", "v1", "jobs", labels={names.LABEL_MANAGED_BY: names.MANAGED_BY})
def jobs(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> Any:
    return {_key_of(namespace, labels): job_state(dict(body))}


@kopf.index("", "v1", "pods", labels={names.LABEL_MANAGED_BY: names.MANAGED_BY})
def pods(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> Any:
    return {_key_of(namespace, labels): pod_state(dict(body))}


@kopf.index(GROUP, VERSION, PLURAL)
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
    created = datetime.fromisoformat(meta["creationTimestamp"])
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


def _slot_free(runtime: Runtime, key: Key, jobs: kopf.Index[Key, Any], queue: Any) -> bool:
    running = sum(1 for k in jobs if any(not j.finished for j in jobs[k]))
    running += sum(1 for k in runtime.reserved if k not in jobs)
    waiting = [
        entry
        for entry, phase in queue
        if phase in (Phase.PENDING, Phase.QUEUED)
        and entry.key not in jobs
        and entry.key not in runtime.reserved
    ]
    return admits(key, waiting, running, runtime.settings.max_running)


def _newest_pod(pods: tuple[PodState, ...]) -> PodState | None:
    return max(pods, key=lambda p: p.created or datetime.min.replace(tzinfo=UTC), default=None)


# kopf passes indexes as extra keyword arguments its handler protocols do not declare.
@kopf.timer(GROUP, VERSION, PLURAL, interval=SETTINGS.reconcile_interval, when=_unsettled)  # type: ignore[arg-type]
async def reconcile_job(
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
    key = (namespace, name)
    now = datetime.now(UTC)
    current = TranscodeJobStatus.model_validate(
        {k: v for k, v in status.items() if k in _STATUS_FIELDS}
    )
    try:
        parsed = TranscodeJobSpec.model_validate(dict(spec))
    except ValidationError as exc:
        await _reject(body, namespace, name, current, now, meta.get("generation"), _errors(exc))
        return
    if current.phase in (Phase.PENDING, Phase.QUEUED) and uid not in runtime.claimed:
        refusal = admission.refusal(parsed, namespace, runtime.settings, runtime.ownership.areas)
        if refusal is not None:
            await _reject(body, namespace, name, current, now, meta.get("generation"), refusal)
            return
        conflict = await _claim(runtime, Owner(namespace, name, uid), parsed)
        if conflict is not None:
            await _reject(
                body, namespace, name, current, now, meta.get("generation"),
                conflict.message, reason=conflict.reason,
            )  # fmt: skip
            return

    job_list = list(jobs.get(key, ()))
    if job_list:
        runtime.reserved.discard(key)
    job = job_list[0] if job_list else None
    current_pods = tuple(pods.get(key, ()))
    seen = runtime.pods_seen.setdefault(key, set())
    seen.update(p.uid or p.name for p in current_pods)
    obs_kwargs: dict[str, Any] = {
        "spec": parsed,
        "status": current,
        "generation": meta.get("generation"),
        "now": now,
        "job": job,
        "pods": current_pods,
        "pods_seen": len(seen),
        "progress": runtime.progress.get(key),
    }
    if job is None and key in runtime.reserved:
        return  # created a moment ago; wait for the watch to show it
    if job is None and current.phase in (Phase.PENDING, Phase.QUEUED):
        # Only the decision and the reservation of the slot are serialised; the API call is
        # not, so a burst of admissions does not queue behind one lock.
        async with runtime.admission:
            free = _slot_free(runtime, key, jobs, transcodejobs.get("queue", ()))
            outcome = reconcile(Observation(**obs_kwargs, slot_free=free))
            if outcome.action is Action.CREATE_JOB:
                runtime.reserved.add(key)
        if outcome.action is Action.CREATE_JOB:
            await _create_job(runtime, key, uid, parsed)
    else:
        outcome = reconcile(Observation(**obs_kwargs))
        outcome = await _act(runtime, key, uid, parsed, outcome, now, meta.get("generation"))
        if outcome.status.phase in (Phase.SUCCEEDED, Phase.FAILED) and current.phase not in (
            Phase.SUCCEEDED,
            Phase.FAILED,
        ):
            await _sweep_attempts(runtime, Owner(namespace, name, uid), parsed.output, logger)

    await _write(body, namespace, name, current, outcome, logger)


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


async def _claim(runtime: Runtime, owner: Owner, spec: TranscodeJobSpec) -> Refusal | None:
    """Claim the output, then the source, for ``owner`` and check the source is there, before
    any pod may run; why the job is refused, or None. A store that cannot answer is retried
    later."""
    try:
        async with runtime.claiming:
            await asyncio.to_thread(runtime.ownership.claim_output, spec.output, owner)
            try:
                await asyncio.to_thread(runtime.ownership.claim_source, spec.source, owner)
            except ClaimConflictError:
                await asyncio.to_thread(runtime.ownership.release, spec.output, owner)
                raise
    except ClaimConflictError as conflict:
        return Refusal(conflict.reason, conflict.message)
    except ClaimError as exc:
        metrics.RECONCILE_ERRORS.labels("claim").inc()
        raise kopf.TemporaryError(f"cannot claim storage: {exc}", delay=5) from exc
    try:
        await asyncio.to_thread(runtime.store.prepare, spec.source, spec.output, owner.uid)
    except StorageError as exc:
        if exc.refusal is not None:  # absent, or never readable: no retry can help
            return Refusal(exc.refusal, str(exc))
        raise kopf.TemporaryError(f"cannot prepare storage: {exc}", delay=5) from exc
    runtime.claimed.add(owner.uid)
    return None


async def _sweep_attempts(runtime: Runtime, owner: Owner, output: str, logger: kopf.Logger) -> None:
    """The job ended (no pod can be writing): remove its partial attempts, inside its claim."""
    try:
        if await asyncio.to_thread(runtime.ownership.owned_by, output, owner):
            swept = await asyncio.to_thread(runtime.store.clean_partial, output, owner.uid)
            if swept:
                logger.info("removed %d partial attempt(s) of %s", swept, output)
    except (StorageError, ClaimError) as exc:
        logger.warning("could not remove partial attempts of %s: %s", output, exc)


async def _create_job(runtime: Runtime, key: Key, uid: str, spec: TranscodeJobSpec) -> None:
    manifest = jobspec.build_job(key[1], key[0], uid, spec, runtime.settings, runtime.s3)
    runtime.reserved.add(key)
    try:
        # The pod mounts the source file and the work folder by subPath: both must exist
        # first (the kubelet would make a missing source a folder).
        await asyncio.to_thread(runtime.store.prepare, spec.source, spec.output, uid)
        await asyncio.to_thread(k8s.create_job, manifest)
    except Exception:
        runtime.reserved.discard(key)
        metrics.RECONCILE_ERRORS.labels("create_job").inc()
        raise


async def _act(
    runtime: Runtime,
    key: Key,
    uid: str,
    spec: TranscodeJobSpec,
    outcome: Outcome,
    now: datetime,
    generation: int | None,
) -> Outcome:
    if outcome.action is Action.CREATE_JOB:
        await _create_job(runtime, key, uid, spec)
    elif outcome.action is Action.VERIFY_OUTPUT:
        try:
            outputs = await asyncio.to_thread(runtime.store.verify, spec.output, uid)
        except StorageError as exc:
            return after_verify(outcome, now, generation, None, str(exc))
        outcome = after_verify(outcome, now, generation, outputs, None)
        _observe_success(outcome)
    elif outcome.action is Action.DELETE_SOURCE:
        owner = Owner(key[0], key[1], uid)
        try:
            # Only the one TranscodeJob that claims the source may delete it. A job admitted
            # before claims existed claims it now (first come), or keeps its hands off.
            await asyncio.to_thread(runtime.ownership.claim_source, spec.source, owner)
            existed = await asyncio.to_thread(runtime.store.delete_source, spec.source)
            await asyncio.to_thread(runtime.ownership.release, spec.source, owner)
        except ClaimConflictError as conflict:
            raise kopf.TemporaryError(
                f"the source is not deleted: {conflict.message}", delay=600
            ) from conflict
        except (StorageError, ClaimError) as exc:
            metrics.RECONCILE_ERRORS.labels("delete_source").inc()
            raise kopf.TemporaryError(str(exc), delay=10) from exc
        outcome = after_source_deleted(outcome, now, generation, existed)
    return outcome


def _observe_success(outcome: Outcome) -> None:
    status = outcome.status
    if status.start_time is None or status.completion_time is None:
        return
    wall = (status.completion_time - status.start_time).total_seconds()
    metrics.TRANSCODE_SECONDS.observe(wall)
    media = status.outputs.duration_seconds if status.outputs else None
    if media and wall > 0:
        metrics.REALTIME_FACTOR.observe(media / wall)


async def _write(
    body: kopf.Body,
    namespace: str,
    name: str,
    before: TranscodeJobStatus,
    outcome: Outcome,
    logger: kopf.Logger,
) -> None:
    if outcome.status != before:
        await asyncio.to_thread(k8s.patch_status, namespace, name, _status_patch(outcome))
        if outcome.status.phase is Phase.FAILED and before.phase is not Phase.FAILED:
            metrics.FAILURES.labels(outcome.status.reason or "Unknown").inc()
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        logger.info("%s: %s", event.reason, event.message)


def _status_patch(outcome: Outcome) -> dict[str, Any]:
    """A merge patch: fields that were cleared must be sent as null to be removed."""
    patch: dict[str, Any] = outcome.status.model_dump(mode="json", by_alias=True)
    return patch


def _errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


async def _reject(
    body: kopf.Body,
    namespace: str,
    name: str,
    current: TranscodeJobStatus,
    now: datetime,
    generation: int | None,
    message: str,
    reason: str = "InvalidSpec",
) -> None:
    status = current.model_copy(
        update={
            "phase": Phase.FAILED,
            "reason": reason,
            "message": message,
            "completion_time": now,
            "observed_generation": generation,
        }
    )
    outcome = Outcome(status=status)
    await asyncio.to_thread(k8s.patch_status, namespace, name, _status_patch(outcome))
    kopf.event(body, type="Warning", reason=reason, message=message)


def _s3_config() -> S3Config | None:
    try:
        return S3Config.from_env(os.environ)
    except S3ConfigError as exc:
        logging.getLogger(__name__).error("S3 settings are invalid, S3 jobs will fail: %s", exc)
        return None


class _LazyObjects:
    """One S3 client for the stores and the claims, made on first use (a volume-only
    operator needs no S3 settings)."""

    def __init__(self) -> None:
        self._objects: S3Objects | None = None

    def __call__(self) -> S3Objects:
        if self._objects is None:
            config = _s3_config()
            if config is None:
                raise ValueError("HLSFORGE_S3_* settings are invalid")
            self._objects = S3Objects.from_config(config)
        return self._objects


def _stores(settings: OperatorSettings, objects: _LazyObjects) -> Stores:
    volume = (
        VolumeStore(
            settings.media_root,
            settings.max_output_bytes,
            work=settings.work_dir,
            pod_uid=jobspec.RUN_AS,
        )
        if settings.media_root is not None
        else None
    )
    return Stores(volume, lambda: S3Store(objects()))


def _ownership(settings: OperatorSettings, objects: _LazyObjects) -> Ownership:
    def bucket(name: str) -> BucketSpace:
        try:
            return BucketSpace(objects(), name)
        except ValueError as exc:
            raise ClaimError(f"S3 is not configured: {exc}") from exc

    volume = VolumeSpace(settings.media_root) if settings.media_root is not None else None
    return Ownership(admission.areas(settings), volume, bucket)


def _running(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") == Phase.RUNNING


@kopf.daemon(GROUP, VERSION, PLURAL, when=_running, cancellation_timeout=5)  # type: ignore[arg-type]
async def follow_progress(
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    pods: kopf.Index[Key, Any],
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Mirror the transcoder's progress lines into memory; the timer writes them out."""
    runtime = _runtime(memo)
    key = (namespace or "", name)
    followed: set[str] = set()
    while not stopped:
        pod = _newest_pod(tuple(pods.get(key, ())))
        if pod is None or not pod.running or pod.name in followed:
            await stopped.wait(1.0)
            continue
        followed.add(pod.name)
        runtime.progress.pop(key, None)
        try:
            await asyncio.to_thread(_follow, runtime, key, pod.name)
        except Exception as exc:  # the log stream broke: follow again
            logger.warning("progress stream of %s ended: %s", pod.name, exc)
            followed.discard(pod.name)
            await stopped.wait(1.0)


def _follow(runtime: Runtime, key: Key, pod: str) -> None:
    with k8s.follow_log(key[0], pod, names.CONTAINER) as lines:
        for line in lines:
            progress = progress_from_line(line)
            if progress is not None:
                runtime.progress[key] = progress


@kopf.on.delete(GROUP, VERSION, PLURAL, timeout=600)
async def cleanup(
    name: str,
    namespace: str | None,
    uid: str,
    spec: kopf.Spec,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Stop the transcode (Job and pods), then clean up inside the job's own claims only:
    partial attempts always, the finished output per retention; release the claims."""
    runtime = _runtime(memo)
    namespace = namespace or ""
    job = names.job_name(name)
    await asyncio.to_thread(k8s.delete_job, namespace, job)
    if await asyncio.to_thread(k8s.job_exists, namespace, job):
        raise kopf.TemporaryError("waiting for the transcode pods to end", delay=2)
    owner = Owner(namespace, name, uid)
    output, source = spec.get("output"), spec.get("source")
    try:
        if output:
            await asyncio.to_thread(_clean_output, runtime, owner, output, logger)
        if source:
            await asyncio.to_thread(runtime.ownership.release, source, owner)
    except (StorageError, ClaimError) as exc:
        raise kopf.TemporaryError(f"could not clean up: {exc}", delay=10) from exc
    runtime.forget((namespace, name), uid)


def _clean_output(runtime: Runtime, owner: Owner, output: str, logger: kopf.Logger) -> None:
    if not runtime.ownership.owned_by(output, owner):
        logger.info("%s is not claimed by this TranscodeJob: left untouched", output)
        return
    if runtime.settings.output_retention is OutputRetention.DELETE:
        runtime.store.delete_output(output, owner.uid)
    else:
        runtime.store.clean_partial(output, owner.uid)
        if runtime.store.holds_output(output):
            return  # the published output stays, and stays owned: nobody may write there
    runtime.ownership.release(output, owner)
