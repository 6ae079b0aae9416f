"""What the handlers do to the world: claim storage, create the Job, verify the output, delete
the source, write the status, clean up.

Each step is one side effect chosen by the reducer (``reconcile``) or by admission; the
handlers call them in order. Blocking calls (storage, the Kubernetes client) run in threads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import kopf

from hlsforge_api.errors import StorageError
from hlsforge_api.v1alpha1 import Phase, TranscodeJobSpec, TranscodeJobStatus
from hlsforge_operator import failpoints, jobspec, k8s, metrics, names
from hlsforge_operator.reconcile import Action, Outcome, after_source_deleted, after_verify
from hlsforge_operator.runtime import Key, Runtime
from hlsforge_operator.settings import OutputRetention
from hlsforge_operator.state import progress_from_line
from hlsforge_storage.claim_spaces import ClaimError
from hlsforge_storage.claims import ClaimConflictError, Owner


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


async def claim(runtime: Runtime, owner: Owner, spec: TranscodeJobSpec) -> Refusal | None:
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
        if exc.final:  # absent, or never readable: no retry can help
            return Refusal(exc.reason, exc.message)
        raise kopf.TemporaryError(f"cannot prepare storage: {exc}", delay=5) from exc
    runtime.claimed.add(owner.uid)
    return None


async def sweep_attempts(runtime: Runtime, owner: Owner, output: str, logger: kopf.Logger) -> None:
    """The job ended (no pod can be writing): remove its partial attempts, inside its claim."""
    try:
        if await asyncio.to_thread(runtime.ownership.owned_by, output, owner):
            swept = await asyncio.to_thread(runtime.store.clean_partial, output, owner.uid)
            if swept:
                logger.info("removed %d partial attempt(s) of %s", swept, output)
    except (StorageError, ClaimError) as exc:
        logger.warning("could not remove partial attempts of %s: %s", output, exc)


async def create_job(runtime: Runtime, key: Key, uid: str, spec: TranscodeJobSpec) -> None:
    manifest = jobspec.build_job(key[1], key[0], uid, spec, runtime.settings, runtime.s3)
    runtime.reserved.add(key)
    try:
        # The pod mounts the source file and the work folder by subPath: both must exist
        # first (the kubelet would make a missing source a folder).
        await asyncio.to_thread(runtime.store.prepare, spec.source, spec.output, uid)
        await failpoints.reach(failpoints.Point.BEFORE_JOB_CREATE)
        await asyncio.to_thread(k8s.create_job, manifest)
    except Exception:
        runtime.reserved.discard(key)
        metrics.RECONCILE_ERRORS.labels("create_job").inc()
        raise


async def act(
    runtime: Runtime,
    owner: Owner,
    spec: TranscodeJobSpec,
    outcome: Outcome,
    now: datetime,
    generation: int | None,
) -> Outcome:
    """Carry out the reducer's action and fold its result back into the outcome."""
    if outcome.action is Action.CREATE_JOB:
        await create_job(runtime, (owner.namespace, owner.name), owner.uid, spec)
    elif outcome.action is Action.RELEASE_JOB:
        await asyncio.to_thread(k8s.delete_job, owner.namespace, names.job_name(owner.name))
        runtime.progress.pop((owner.namespace, owner.name), None)
    elif outcome.action is Action.VERIFY_OUTPUT:
        await failpoints.reach(failpoints.Point.BEFORE_VERIFY)
        try:
            outputs = await asyncio.to_thread(runtime.store.verify, spec.output, owner.uid)
        except StorageError as exc:
            if exc.transient:  # the store could not answer: no verdict, ask again
                metrics.RECONCILE_ERRORS.labels("verify").inc()
                raise kopf.TemporaryError(f"cannot verify yet: {exc}", delay=5) from exc
            return after_verify(outcome, now, generation, None, str(exc))
        outcome = after_verify(outcome, now, generation, outputs, None)
        _observe_success(outcome)
    elif outcome.action is Action.DELETE_SOURCE:
        await failpoints.reach(failpoints.Point.BEFORE_SOURCE_DELETE)
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


async def write(
    body: kopf.Body,
    namespace: str,
    name: str,
    before: TranscodeJobStatus,
    outcome: Outcome,
    logger: kopf.Logger,
) -> None:
    """Write the status if it changed (a merge patch), then post the outcome's events."""
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


async def follow(runtime: Runtime, key: Key, pod: str, tail_lines: int | None = None) -> None:
    """Mirror the transcoder's progress lines into memory until its log ends (``tail_lines``:
    read from the log's last lines, not its start).

    Both the blocking open and the blocking reads run in ``runtime.log_streams``, never in the
    default executor. Cancelled (the daemon stops), the stream is closed, which ends the read
    in its thread: the pool's thread is free again at once, not when the pod ends."""
    loop = asyncio.get_running_loop()
    pool = runtime.log_streams
    stream = await loop.run_in_executor(
        pool, k8s.open_log, key[0], pod, names.CONTAINER, tail_lines
    )
    try:
        await loop.run_in_executor(pool, _mirror, runtime, key, stream)
    finally:
        stream.close()


def _mirror(runtime: Runtime, key: Key, stream: k8s.LogStream) -> None:
    for line in stream.lines():
        progress = progress_from_line(line)
        if progress is not None:
            runtime.progress[key] = progress


def clean_output(runtime: Runtime, owner: Owner, output: str, logger: kopf.Logger) -> None:
    """A deleted TranscodeJob's output: removed or kept per retention, inside its claim only;
    the claim is released unless a published output stays (nobody may write there then)."""
    if not runtime.ownership.owned_by(output, owner):
        logger.info("%s is not claimed by this TranscodeJob: left untouched", output)
        return
    if runtime.settings.output_retention is OutputRetention.DELETE:
        runtime.store.delete_output(output, owner.uid)
    else:
        runtime.store.clean_partial(output, owner.uid)
        if runtime.store.holds_output(output):
            return
    runtime.ownership.release(output, owner)
