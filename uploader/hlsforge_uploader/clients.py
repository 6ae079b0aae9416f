"""The shared clients every request works with, opened once by the app's lifespan.

One job store, one storage backend, one broadcaster of the job watch, the metrics, the
direct-upload side of the bucket (S3 only) and the prober. The services (``uploads/``) take a
``Clients`` as their argument; ``api/deps.py`` hands the app's to routes. This module sits
below ``api/``: the HTTP layer depends on it, never the other way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hlsforge_storage.claims import Ownership
from hlsforge_uploader.auth.limiter import QuotaBook
from hlsforge_uploader.auth.quotas import TokenQuotas
from hlsforge_uploader.jobs.broadcast import Broadcaster
from hlsforge_uploader.k8s import JobStore
from hlsforge_uploader.metrics import Metrics
from hlsforge_uploader.prober.client import LocalProber, Prober
from hlsforge_uploader.prober.sandbox import SandboxLimits
from hlsforge_uploader.storage.bucket_direct import DirectUploads
from hlsforge_uploader.storage.interface import Storage
from hlsforge_uploader.uploads.capacity import UploadSlots


@dataclass
class Clients:
    store: JobStore
    storage: Storage
    broadcaster: Broadcaster
    metrics: Metrics
    direct: DirectUploads | None = None
    """Direct (presigned) uploads, when the backend offers them (S3)."""
    prober: Prober = field(default_factory=lambda: LocalProber(SandboxLimits()))
    """Where uploads are ffprobed: the prober container, or a sandboxed child of ours."""
    quotas: QuotaBook = field(default_factory=lambda: QuotaBook(TokenQuotas(), tuple))
    """Per-token quotas (none by default); the app's counts hourly bytes from the watch."""
    upload_slots: UploadSlots = field(default_factory=lambda: UploadSlots(1_000))
    """Uploads this replica streams at once, all tokens together (the memory they hold)."""
    ownership: Ownership | None = None
    """Where each upload is reserved for its TranscodeJob before the job exists (None: not
    reserved; the operator still claims it at its first look)."""
