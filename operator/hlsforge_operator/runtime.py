"""The operator's process-wide state, built once at start-up from its settings.

kopf hands it to every handler through ``memo.runtime``. It holds the storage (``store``), who
owns which location (``ownership``), and the in-memory view the handlers share: run slots
reserved, the last progress line per job, the pods seen, the claims made.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hlsforge_api.v1alpha1 import Phase
from hlsforge_operator import admission, jobspec
from hlsforge_operator.settings import OperatorSettings
from hlsforge_operator.state import Progress
from hlsforge_storage.claim_spaces import BucketSpace, ClaimError, VolumeSpace
from hlsforge_storage.claims import Ownership
from hlsforge_storage.media_store import MediaStore, Stores
from hlsforge_storage.s3 import S3Objects
from hlsforge_storage.s3_store import S3Store
from hlsforge_storage.s3config import S3Config, S3ConfigError
from hlsforge_storage.volume_store import VolumeStore

Key = tuple[str, str]
"""A TranscodeJob by (namespace, name)."""


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
    reconciling: set[Key] = field(default_factory=set)
    """Jobs whose timer run is in flight (it may be creating the Job or publishing)."""
    deleting: set[Key] = field(default_factory=set)
    """Jobs whose delete handler started: no new timer run acts on them."""
    claiming: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Claims are decided one at a time: "is anything inside or above?" then "claim"."""
    log_streams: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="log")
    )
    """Threads that follow pod logs, apart from the default executor (``asyncio.to_thread``):
    each stream holds one for its pod's whole run. Sized by ``log_stream_threads``."""

    @classmethod
    def start(cls, settings: OperatorSettings) -> Runtime:
        config = s3_config()
        objects = _LazyObjects(config)
        return cls(
            settings=settings,
            store=_stores(settings, objects),
            ownership=_ownership(settings, objects),
            s3=config,
            log_streams=ThreadPoolExecutor(log_stream_threads(settings), thread_name_prefix="log"),
        )

    def forget(self, key: Key, uid: str | None = None) -> None:
        for table in (self.progress, self.phases, self.pods_seen):
            table.pop(key, None)
        self.reserved.discard(key)
        self.deleting.discard(key)
        self.claimed.discard(uid or "")


def log_stream_threads(settings: OperatorSettings) -> int:
    """One thread per pod that may run at once (``max_running``), plus a few for pods of a
    retry or a requeued job that outlive their daemon briefly; capped, since ``max_running``
    may be huge. Beyond the cap a stream waits for a free thread: that job's progress shows
    late, nothing else does."""
    return min(settings.max_running + 8, 512)


def s3_config() -> S3Config | None:
    try:
        return S3Config.from_env(os.environ)
    except S3ConfigError as exc:
        logging.getLogger(__name__).error("S3 settings are invalid, S3 jobs will fail: %s", exc)
        return None


class _LazyObjects:
    """One S3 client for the stores and the claims, made on first use (a volume-only
    operator needs no S3 settings)."""

    def __init__(self, config: S3Config | None) -> None:
        self._config = config
        self._objects: S3Objects | None = None

    def __call__(self) -> S3Objects:
        if self._objects is None:
            if self._config is None:
                raise ValueError("HLSFORGE_S3_* settings are invalid")
            self._objects = S3Objects.from_config(self._config)
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
