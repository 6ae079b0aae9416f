"""``/v1/jobs``: read and delete TranscodeJobs. The Kubernetes API is the store."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Response

from hlsforge_api.v1alpha1 import Phase
from hlsforge_uploader.api.deps import CallerDep, ClientsDep, UrlsDep
from hlsforge_uploader.api.helpers import check_id
from hlsforge_uploader.auth.callers import Caller
from hlsforge_uploader.errors import BadRequest, NotFound, UpstreamFailed
from hlsforge_uploader.jobs.view import view
from hlsforge_uploader.k8s import JobRejected, KubeError
from hlsforge_uploader.models import JobPage, JobView

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobPage)
async def list_jobs(
    caller: CallerDep,
    clients: ClientsDep,
    urls: UrlsDep,
    phase: Annotated[Phase | None, Query(description="Only jobs in this phase")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cont: Annotated[str | None, Query(alias="continue", max_length=4096)] = None,
) -> JobPage:
    """A page of jobs, in the API server's order. With ``phase``, pages are filtered after
    listing (status is not selectable), so a page may hold fewer than ``limit`` items;
    follow ``next`` until it is absent. A caller lists only the jobs its token created
    (label selector); an admin lists every job."""
    selector = caller.selector
    try:
        items, nxt, _ = await to_thread.run_sync(
            lambda: clients.store.list_page(limit, cont, selector)
        )
    except JobRejected as exc:
        raise BadRequest(str(exc)) from None
    except KubeError as exc:
        raise UpstreamFailed(str(exc)) from None
    views = [view(obj, urls) for obj in items]
    if phase is not None:
        views = [v for v in views if v.phase is phase]
    return JobPage(items=views, next=nxt)


async def _visible(clients: ClientsDep, caller: Caller, job_id: str) -> dict[str, Any]:
    """The job if this caller sees it; 404 alike for another token's job and no job."""
    check_id(job_id)
    try:
        found = await to_thread.run_sync(clients.store.get, job_id)
    except KubeError as exc:
        raise UpstreamFailed(str(exc)) from None
    if found is None or not caller.owns(found):
        raise NotFound(f"no job {job_id!r}")
    return found


@router.get("/{job_id}", response_model=JobView)
async def get_job(job_id: str, caller: CallerDep, clients: ClientsDep, urls: UrlsDep) -> JobView:
    return view(await _visible(clients, caller, job_id), urls)


@router.delete("/{job_id}", status_code=204)
async def delete_job(job_id: str, caller: CallerDep, clients: ClientsDep) -> Response:
    """Delete the TranscodeJob; the operator stops its pods (owner references)."""
    found = await _visible(clients, caller, job_id)
    uid = (found.get("metadata") or {}).get("uid")
    try:
        deleted = await to_thread.run_sync(clients.store.delete, job_id, uid)
    except KubeError as exc:
        raise UpstreamFailed(str(exc)) from None
    if not deleted:
        raise NotFound(f"no job {job_id!r}")
    return Response(status_code=204)
