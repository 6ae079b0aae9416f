"""Operator settings, read from ``HLSFORGE_*`` environment variables (the Helm chart sets them)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hlsforge_api.job_limits import JobLimits, resource_violations
from hlsforge_api.v1alpha1 import ResourceList


class OutputRetention(StrEnum):
    RETAIN = "Retain"
    """Deleting a TranscodeJob keeps its HLS output."""
    DELETE = "Delete"
    """Deleting a TranscodeJob deletes its HLS output too."""


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HLSFORGE_", env_nested_delimiter="__", use_attribute_docstrings=True
    )

    namespace: str | None = None
    """Watch one namespace, or those a kopf glob pattern matches (``team-*``); None watches all
    (cluster-wide RBAC needed)."""
    transcoder_image: str = "hlsforge/transcoder:dev"
    image_pull_policy: str = Field(default="IfNotPresent", pattern="^(Always|IfNotPresent|Never)$")
    transcoder_service_account: str = "default"
    """The pods' ServiceAccount; its token is never mounted."""
    media_pvc: str = "hlsforge-media"
    """The ReadWriteMany claim that holds uploads and outputs, mounted in transcoder pods whose
    source or output is a volume path. Empty: S3 only (a volume path is then InvalidSpec)."""
    media_root: Path | None = Path("/data")
    """Where the operator itself sees the same volume (to verify outputs, delete sources)."""
    uploads_dir: str = "uploads"
    """The sources area: every source must lie below it (volume folder, and key prefix in the
    allowed bucket). The uploader reads the same variable."""
    output_dir: str = "hls"
    """The outputs area: every output must lie below it. The uploader reads the same variable."""
    claims_dir: str = ".hlsforge/claims"
    """Where claim records live (volume folder and key prefix); outside both areas."""
    work_dir: str = ".hlsforge/work"
    """Volume folder of the jobs' work folders (``<work_dir>/<uid>``): the only part of the
    volume a transcoder pod may write; outside both areas."""
    s3_bucket: str = ""
    """The bucket S3 locations may name; empty refuses every S3 location."""
    pod_namespace: str = ""
    """The operator's own namespace (where the media PVC is). When it watches several
    namespaces, volume locations are accepted only from this one: a PVC belongs to one
    namespace."""
    max_output_bytes: int = Field(default=32 << 30, ge=1 << 20, le=1 << 44)
    """The largest output the operator verifies on the volume; a bigger tree (or a FIFO, a link,
    a device in it) fails verification instead of holding the operator."""
    s3_credentials_secret: str = ""
    """Secret (keys ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) given to transcoder pods of
    S3 jobs as environment. Empty: the pods use the default chain (IRSA via the transcoder
    ServiceAccount on EKS). The operator's own S3 access uses ``HLSFORGE_S3_*`` and the default
    chain of its pod."""
    s3_transcoder_endpoint: str = ""
    """The S3 endpoint as transcoder pods reach it, when it differs from the operator's
    ``HLSFORGE_S3_ENDPOINT`` (for example an operator run outside the cluster)."""
    max_running: int = Field(default=4, ge=1, le=10_000)
    """Cluster-wide cap on transcodes running at once; the rest wait in phase Queued. A job
    whose pod waits for a node (unschedulable) holds no slot."""
    unschedulable_timeout_seconds: float = Field(default=300, ge=1, le=7 * 24 * 3600)
    """Seconds a transcode pod may wait for a node (the scheduler finds none: it asks for more
    than any node has, or the nodes are full) before its job gives its Job back and goes to the
    back of the queue."""
    unschedulable_requeues: int = Field(default=2, ge=0, le=100)
    """Times a job may go back to the queue that way; then it fails with reason
    ``Unschedulable``."""
    scratch_size_limit: str = "20Gi"
    default_cpu_request: str = "1"
    default_memory_request: str = "1Gi"
    default_cpu_limit: str = "2"
    default_memory_limit: str = "4Gi"
    default_ephemeral_storage_request: str = "1Gi"
    """Scheduling reserve for scratch; without it Kubernetes requests the whole limit and a
    node fits only (its disk / the limit) transcodes at once."""
    default_ephemeral_storage_limit: str = "20Gi"
    job_limits: JobLimits = Field(default_factory=JobLimits)
    """Per-job maxima (``HLSFORGE_JOB_LIMITS__CPU`` ...): a TranscodeJob beyond one is
    InvalidSpec, the backstop of the chart's ValidatingAdmissionPolicy. The default
    resources above must lie within them."""
    job_ttl_seconds: int = Field(default=3600, ge=60)
    """Finished Jobs are garbage-collected after this; status is mirrored long before."""
    output_retention: OutputRetention = OutputRetention.RETAIN
    reconcile_interval: float = Field(default=1.0, gt=0)
    """Seconds between reconciliations of one job: also the status write rate limit."""
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    """0 disables the /metrics server."""
    metrics_address: str = "0.0.0.0"  # noqa: S104 - scraped from inside the cluster
    peering_priority: int | None = None
    """Peering priority; None picks a random one so two replicas never tie (a tie freezes both)."""
    peering_lifetime: int = Field(default=30, ge=10)
    """Seconds after which a silent active replica is presumed dead and a standby takes over."""
    test_pause: str = Field(default="", max_length=64)
    """Test only, empty (off) in every real install: passed unchanged to transcoder pods as
    ``HLSFORGE_TEST_PAUSE`` (``<point>:<seconds>``, see ``hlsforge_transcoder.fault_points``)
    so fault tests can strike inside the commit."""

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> OperatorSettings:
        """A job that sets no resources gets the defaults: they must lie within the limits."""
        beyond = []
        for kind in ("request", "limit"):
            names = ("cpu", "memory", "ephemeral-storage")
            given = {n: getattr(self, f"default_{n.replace('-', '_')}_{kind}") for n in names}
            beyond += resource_violations(
                f"{kind}s", ResourceList.model_validate(given), self.job_limits
            )
        if beyond:
            raise ValueError(
                "the default transcoder resources exceed the job limits: "
                + "; ".join(str(v) for v in beyond)
            )
        return self

    @property
    def watches_many(self) -> bool:
        """More than one namespace: every namespace then has its own folder in each area."""
        return self.namespace is None or any(c in self.namespace for c in "*?[!,")
