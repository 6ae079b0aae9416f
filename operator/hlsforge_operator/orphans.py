"""Transcode pods that no Job owns any more: a Job deleted with ``--cascade=orphan`` (by hand)
leaves its pod running, and the operator recreates the Job, so two pods write the same job.

The commit protocol keeps that safe (both write into the job's work folder, each in an attempt
folder of its own; the first ``rename`` wins and the loser removes only its own attempt). The
operator does not leave the orphan behind: a finished orphan is deleted when seen, a running
one when the job ends (Succeeded or Failed) and when the TranscodeJob is deleted, so none runs
on, or stays as a pod object, after its job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import kopf

from hlsforge_operator import k8s
from hlsforge_operator.state import PodState


def orphans(pods: Iterable[PodState], *, running_too: bool) -> list[str]:
    """Names of the pods no Job controls: the finished ones, and with ``running_too`` all."""
    return [
        p.name
        for p in pods
        if not p.controlled and (running_too or p.phase in ("Succeeded", "Failed"))
    ]


async def delete(
    namespace: str, pods: Iterable[PodState], logger: kopf.Logger, *, running_too: bool
) -> list[str]:
    """Delete the orphans among ``pods``; the names it asked to delete."""
    names = orphans(pods, running_too=running_too)
    for name in names:
        if await asyncio.to_thread(k8s.delete_pod, namespace, name):
            logger.info("deleted %s: no Job owns it (orphaned)", name)
    return names
