"""One transcode between two locations, each a local path or an ``s3://`` URI.

Local to local is ``run.transcode`` unchanged. Anything on S3 goes through a ``StorageBroker``
(``broker.py``): this process's own client (``DirectBroker``: the CLI, tests), or, when
``HLSFORGE_PUBLISHER_SOCKET`` is set (a transcoder pod), the publisher sidecar that holds the
credentials (``broker_client.RemoteBroker``). An S3 source is read through a presigned URL
(ranged reads by ffmpeg's http protocol, allowed for that input only) or, with
``HLSFORGE_S3_SOURCE_ACCESS=download``, copied to scratch first. An S3 destination is encoded to
scratch, verified there, then published; a destination that already holds a verified commit is
reported without encoding anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from hlsforge_api.events import Emit, Publishing, ignore
from hlsforge_api.pod import SOCKET_ENV
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import DEFAULT_LIMITS, Limits
from hlsforge_media.media_input import MediaInput, local_input
from hlsforge_storage.locations import is_s3
from hlsforge_transcoder.broker import DirectBroker, StorageBroker, objects_from_env, parse_uri
from hlsforge_transcoder.broker_client import RemoteBroker
from hlsforge_transcoder.run import Result, transcode


def open_broker(env: Mapping[str, str]) -> StorageBroker:
    """The publisher when a socket is configured, else S3 from this process."""
    socket = env.get(SOCKET_ENV, "").strip()
    return RemoteBroker(Path(socket)) if socket else DirectBroker(objects_from_env(env))


def _source(broker: StorageBroker, src: str, scratch: Path) -> MediaInput:
    if not is_s3(src):
        return local_input(Path(src))
    return broker.source_input(parse_uri(src, "source"), scratch)


def run_job(
    src: str,
    dest: str,
    settings: EncodingSettings,
    *,
    limits: Limits = DEFAULT_LIMITS,
    emit: Emit = ignore,
    env: Mapping[str, str] | None = None,
    broker: StorageBroker | None = None,
) -> Result:
    """Transcode ``src`` to ``dest``; ``broker`` defaults to ``open_broker(env)`` (``env``:
    ``os.environ``) and is only used when a location is on S3."""
    if not is_s3(src) and not is_s3(dest):
        return transcode(local_input(Path(src)), Path(dest), settings, limits=limits, emit=emit)
    if broker is None:
        broker = open_broker(os.environ if env is None else env)
    if not is_s3(dest):
        with broker.scratch() as scratch:
            return transcode(_source(broker, src, scratch), Path(dest), settings,
                             limits=limits, emit=emit)  # fmt: skip
    output = parse_uri(dest, "destination")
    found = broker.committed(output)
    if found is not None:
        return Result(found.root, found.manifest, committed=False)
    broker.sweep(output, limits.stale_attempt_age_s)
    with broker.scratch() as scratch:
        local = transcode(_source(broker, src, scratch), scratch / "out", settings,
                          limits=limits, emit=emit)  # fmt: skip
        emit(Publishing(destination=str(output)))
        published = broker.publish(scratch / "out", output)
    return Result(published.root, published.manifest, published.committed, local.timings)
