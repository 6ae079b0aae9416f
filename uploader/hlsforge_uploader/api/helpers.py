"""What more than one router needs: the job id check, upload options from JSON (valid and
within the per-job maxima), and the answer to an upload that created (or found) its job.
Routers import these, never each other.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import ValidationError

from hlsforge_api.job_limits import JobLimits, violations
from hlsforge_uploader.errors import InvalidOptions, NotFound
from hlsforge_uploader.jobs.view import Urls, view
from hlsforge_uploader.models import UploadCreated, UploadOptions

JOB_ID = r"^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$"
JOB_ID_RE = re.compile(JOB_ID)


def check_id(job_id: str) -> str:
    """A job id is a TranscodeJob name; anything else cannot exist (404, not a lookup)."""
    if not JOB_ID_RE.match(job_id):
        raise NotFound(f"no job {job_id!r}")
    return job_id


def parse_options(text: str | None, limits: JobLimits) -> UploadOptions:
    """``UploadOptions`` from JSON; an empty value means the defaults. Invalid options, or
    options beyond ``limits`` (with the priority ceiling of HTTP callers), are
    ``InvalidOptions``; beyond a limit, ``fields`` lists each such field as the client wrote it
    (``resources.requests.cpu``)."""
    if not text:
        return UploadOptions()
    try:
        opts = UploadOptions.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidOptions(problems) from None
    beyond = violations(opts, limits, http=True)
    if beyond:
        raise InvalidOptions(
            "; ".join(str(v) for v in beyond), extra={"fields": [v.field for v in beyond]}
        )
    return opts


def created_response(obj: dict[str, Any], urls: Urls, replayed: bool) -> JSONResponse:
    job = view(obj, urls)
    body = UploadCreated(
        id=job.id,
        status_url=job.status_url,
        events_url=job.events_url,
        playback_url=job.playback_url,
        job=job,
        replayed=replayed,
    )
    headers = {"Location": job.status_url}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body.to_wire(), status_code=201, headers=headers)
