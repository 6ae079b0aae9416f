"""Serving a job's HLS from the shared volume: a file strictly inside the job's output.

The output and the path are each resolved inside their parent with symlinks followed
(``hlsforge_storage.locations.inside``), so a link planted in an output cannot point a player
at another job's files or anything else on the volume. Starlette's ``FileResponse`` answers
``Range`` (206/416) itself from the request.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response

from hlsforge_uploader.delivery import rules
from hlsforge_uploader.errors import NotFound
from hlsforge_uploader.storage.interface import OutsideRoot, inside_root


def output_file(root: Path, output: str, relative: str) -> Path:
    """The file ``relative`` inside the job output ``output``; raises ``OutsideRoot``."""
    return inside_root(inside_root(root, output), relative)


def respond(root: Path, output: str, relative: str) -> Response:
    """The answer for ``relative`` (checked by ``rules.check_path``) of ``output``."""
    try:
        file = output_file(root, output, relative)
    except OutsideRoot:
        raise NotFound(f"no such file in this job's output: {relative}") from None
    if not file.is_file():
        raise NotFound(f"no such file in this job's output: {relative}")
    headers = rules.headers(relative)
    return FileResponse(file, media_type=headers.pop("Content-Type"), headers=headers)
