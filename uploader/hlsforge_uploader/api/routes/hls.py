"""``GET /v1/jobs/{id}/hls/{path}``: the HLS a Succeeded job produced, and nothing else.

The job's output location comes from its TranscodeJob (never from the URL); the path is
checked (``delivery.rules.check_path``) and then answered by the storage backend, which resolves it
strictly inside that output (the volume: symlinks included; S3: inside the committed version).
"""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Header, Response

from hlsforge_uploader.api.deps import CallerDep, ClientsDep
from hlsforge_uploader.api.helpers import check_id
from hlsforge_uploader.delivery import rules
from hlsforge_uploader.errors import NotFound, UpstreamFailed
from hlsforge_uploader.k8s import KubeError

router = APIRouter(prefix="/v1/jobs", tags=["delivery"])


@router.get(
    "/{job_id}/hls/{path:path}",
    response_class=Response,
    responses={
        200: {"description": "A playlist, segment, init segment or image"},
        206: {"description": "Part of the file (Range request)"},
        302: {"description": "S3 redirect delivery: the file at a presigned URL"},
        400: {"description": "A path that can never be inside an output"},
        404: {"description": "No such job, not Succeeded (or not committed) yet, or no such file"},
        416: {"description": "The range starts beyond the end of the file"},
    },
)
async def hls_file(
    job_id: str,
    path: str,
    caller: CallerDep,
    clients: ClientsDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    check_id(job_id)
    relative = rules.check_path(path)
    obj = clients.broadcaster.history.objects.get(job_id)
    if obj is None or (obj.get("status") or {}).get("phase") != "Succeeded":
        try:  # the watch may lag the API by a moment: ask the API itself
            obj = await to_thread.run_sync(clients.store.get, job_id)
        except KubeError as exc:
            raise UpstreamFailed(str(exc)) from None
    if obj is None or not caller.owns(obj) or (obj.get("status") or {}).get("phase") != "Succeeded":
        raise NotFound(f"job {job_id!r} has no output (it does not exist or has not succeeded)")
    output = str(obj["spec"]["output"])
    return await to_thread.run_sync(clients.storage.deliver, output, relative, range_header)
