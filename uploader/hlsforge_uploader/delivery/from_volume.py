"""Serving a job's HLS from the shared volume: a file strictly inside the job's output.

The file is resolved by ``VolumeStore.output_file``: inside the volume root and through no
symbolic link (the output folder included), so a link planted in an output cannot point a
player at another job's files or anything else on the volume; a verified output never holds a
link. Such a path is answered as absent. Starlette's ``FileResponse`` answers ``Range``
(206/416) itself from the request.
"""

from __future__ import annotations

from starlette.responses import FileResponse, Response

from hlsforge_api.errors import StorageError
from hlsforge_storage.volume_store import VolumeStore
from hlsforge_uploader.delivery import rules
from hlsforge_uploader.errors import NotFound


def respond(store: VolumeStore, output: str, relative: str) -> Response:
    """The answer for ``relative`` (checked by ``rules.check_path``) of ``output``."""
    try:
        file = store.output_file(output, relative)
    except StorageError:  # outside the volume or through a link: as good as absent
        raise NotFound(f"no such file in this job's output: {relative}") from None
    if not file.is_file():
        raise NotFound(f"no such file in this job's output: {relative}")
    headers = rules.headers(relative)
    return FileResponse(file, media_type=headers.pop("Content-Type"), headers=headers)
