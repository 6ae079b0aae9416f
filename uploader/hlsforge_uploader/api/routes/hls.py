"""``GET /v1/jobs/{id}/hls/{path}``: the HLS a Succeeded job produced, and nothing else.

The job's output location comes from its TranscodeJob (never from the URL); the path is
checked (``delivery.check_path``) and then resolved strictly inside that output, symlinks
included. Range requests are answered by Starlette's ``FileResponse``.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from hlsforge_uploader import delivery
from hlsforge_uploader.api.deps import ClientsDep, TokenDep
from hlsforge_uploader.api.routes.jobs import check_id
from hlsforge_uploader.errors import NotFound, UpstreamFailed
from hlsforge_uploader.k8s import KubeError
from hlsforge_uploader.storage import OutsideRoot

router = APIRouter(prefix="/v1/jobs", tags=["delivery"])


@router.get(
    "/{job_id}/hls/{path:path}",
    response_class=FileResponse,
    responses={
        200: {"description": "A playlist, segment, init segment or image"},
        206: {"description": "Part of the file (Range request)"},
        400: {"description": "A path that can never be inside an output"},
        404: {"description": "No such job, not Succeeded yet, or no such file"},
    },
)
async def hls_file(job_id: str, path: str, _: TokenDep, clients: ClientsDep) -> Response:
    check_id(job_id)
    relative = delivery.check_path(path)
    obj = clients.broadcaster.history.objects.get(job_id)
    if obj is None or (obj.get("status") or {}).get("phase") != "Succeeded":
        try:  # the watch may lag the API by a moment: ask the API itself
            obj = await to_thread.run_sync(clients.store.get, job_id)
        except KubeError as exc:
            raise UpstreamFailed(str(exc)) from None
    if obj is None or (obj.get("status") or {}).get("phase") != "Succeeded":
        raise NotFound(f"job {job_id!r} has no output (it does not exist or has not succeeded)")
    try:
        file = clients.storage.output_file(str(obj["spec"]["output"]), relative)
    except OutsideRoot:
        raise NotFound(f"no such file in this job's output: {relative}") from None
    if not await to_thread.run_sync(file.is_file):
        raise NotFound(f"no such file in this job's output: {relative}")
    media_type = delivery.content_type(relative)
    assert media_type is not None
    return FileResponse(
        file,
        media_type=media_type,
        headers={
            "Cache-Control": delivery.cache_control(relative),
            "X-Content-Type-Options": "nosniff",
        },
    )
