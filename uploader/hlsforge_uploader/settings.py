"""Uploader settings, read from ``HLSFORGE_*`` environment variables (the Helm chart sets them)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hlsforge_api.job_limits import JobLimits
from hlsforge_uploader.auth.quotas import TokenQuotas
from hlsforge_uploader.auth.tokens import all_entries
from hlsforge_uploader.prober.sandbox import SandboxLimits


class UploaderSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HLSFORGE_", env_nested_delimiter="__", use_attribute_docstrings=True
    )

    namespace: str = "default"
    """Namespace whose TranscodeJobs this uploader creates, lists and watches."""
    storage: Literal["volume", "s3"] = "volume"
    """Where media lives: the shared volume at ``media_root``, or the bucket ``s3_bucket``
    (reached with the ``HLSFORGE_S3_*`` variables of ``hlsforge_storage.s3config``)."""
    media_root: Path = Path("/data")
    """Where the uploader sees the shared volume (the same RWX claim the transcoder mounts)."""
    uploads_dir: str = "uploads"
    """Folder (volume) or key prefix (S3) that receives sources (``uploads/<id>.<ext>``)."""
    output_dir: str = "hls"
    """Folder (volume) or key prefix (S3) where each job's HLS goes (``hls/<id>``)."""
    claims_dir: str = ".hlsforge/claims"
    """Folder (volume) or key prefix (S3) of the claim records the operator keeps; the uploader
    reserves each upload there for the TranscodeJob it creates (the same value as the
    operator's ``HLSFORGE_CLAIMS_DIR``)."""
    s3_bucket: str = ""
    """The bucket of sources and outputs; required when ``storage`` is ``s3``."""
    idempotency_takeover_seconds: float = Field(default=120.0, ge=1, le=3600)
    """A keyed upload whose file is stored and reserved but has no TranscodeJob this long
    after its reservation is taken as cut off (its process died): a retry with the same key
    and the same bytes creates the job. Younger, the retry is 409 (still in progress). Must
    exceed the longest store-probe-create step (the probe timeout and more)."""
    orphan_grace_seconds: int = Field(default=3600, ge=10, le=30 * 86400)
    """An upload stored and reserved whose TranscodeJob was never created is deleted this
    long after its reservation (and a partial file this long after its last write)."""
    orphan_sweep_interval_seconds: float = Field(default=300.0, ge=1, le=86400)
    """How often the orphan sweep looks; every replica sweeps, the deletes are idempotent."""
    s3_delivery: Literal["proxy", "redirect"] = "proxy"
    """S3 only: ``proxy`` streams every HLS file through this service; ``redirect`` answers
    playlists itself (segment URIs presigned) and redirects every other file to S3."""
    s3_part_bytes: int = Field(default=8 * 1024**2, ge=5 * 1024**2, le=512 * 1024**2)
    """S3 only: size of one multipart part; an upload holds about two parts in memory."""
    tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Accepted bearer tokens, comma-separated ``name=token`` entries (``HLSFORGE_TOKENS``); a
    bare token is the one named ``default``."""
    token_file: Path | None = None
    """A file with one token per line (a mounted Secret), each named ``default``; re-read per
    request, so rotation works."""
    token_dir: Path | None = None
    """A directory of named tokens (a mounted Secret): each file's name is a token's name (a
    label value), its content the token; the file ``token`` is the token named ``default``.
    Re-read when a file in it changes, so rotation works without a restart."""
    admins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["default"])
    """Token names that see and manage every job (comma-separated). Any other token sees only
    the jobs it created (label ``hlsforge.io/token``)."""
    quotas: TokenQuotas = Field(default_factory=TokenQuotas)
    """Per-token limits (``HLSFORGE_QUOTAS__CONCURRENT_UPLOADS`` ...); beyond one: 429 with
    ``Retry-After``."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Serve ``/metrics`` on this port (a second listener on ``host``) and not on ``port``;
    None: on ``port``, as one more route."""
    metrics_auth: bool = False
    """``/metrics`` needs a bearer token (any valid one), wherever it is served."""
    docs: Literal["public", "token", "off"] = "public"
    """``/docs`` and ``/openapi.json``: open to anyone, behind a bearer token, or not served."""
    max_upload_bytes: int = Field(default=20 * 1024**3, ge=1)
    """Largest accepted upload; crossing it mid-stream answers 413 and removes the partial file."""
    body_idle_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    """The window an upload body is judged over: one that brings less than
    ``body_min_bytes_per_second`` on average in any window (nothing at all, or a trickle) is
    dropped (408) and its file removed."""
    body_min_bytes_per_second: int = Field(default=8 * 1024, ge=1, le=64 * 1024 * 1024)
    """The slowest average rate an upload body may arrive at (8 KiB/s is 64 kbit/s)."""
    max_form_field_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    """Largest non-file multipart field (the JSON options)."""
    min_free_bytes: int = Field(default=2 * 1024**3, ge=0, le=1 << 50)
    """Room an upload must leave on the media volume (outputs of running transcodes need it):
    an upload that would leave less, by its declared length, is 507 before a byte is read."""
    max_form_fields_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    """All non-file multipart fields of one form together (at most 16 parts per form)."""
    write_buffer_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=16 * 1024 * 1024)
    """Bytes gathered before one write to storage: bounds memory per upload."""
    upload_memory_bytes: int = Field(default=256 * 1024**2, ge=16 * 1024**2, le=64 * 1024**3)
    """Memory the uploads one replica streams may hold together. Each holds its write buffer
    (plus about three S3 parts in S3 mode), so this divided by that is how many uploads stream
    at once, all tokens together; one more is 503 ``busy`` with Retry-After. Leave the pod's
    memory limit about 128 MiB above it."""
    job_limits: JobLimits = Field(default_factory=JobLimits)
    """Per-job maxima (``HLSFORGE_JOB_LIMITS__CPU`` ...): options beyond one are 422
    ``invalid_options`` naming the field, before the body is stored; the priority ceiling of
    uploads is ``http_priority``."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed by CORS, comma-separated; empty disables CORS."""
    public_url: str = ""
    """Base URL clients reach this service at; empty builds URLs from the request."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """A client must send a request's line and headers within this time of connecting or of
    the previous response, else its connection is closed (408 if a request had begun)."""
    http_max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=1024 * 1024)
    """Largest request line plus headers (431 beyond it)."""
    http_max_headers: int = Field(default=64, ge=8, le=1024)
    """Most header lines in one request (431 beyond it)."""
    http_max_connections: int = Field(default=1000, ge=8, le=100_000)
    """Open connections at most; at the cap a new connection sheds the one that has waited
    longest for its headers, and is refused (503) only if all are serving requests."""
    http_keepalive_timeout_seconds: int = Field(default=5, ge=1, le=300)
    """An idle keep-alive connection that sends no byte for this long is closed."""
    http_backlog: int = Field(default=2048, ge=16, le=65535)
    """Listen backlog (connections the kernel queues before they are accepted; the kernel's
    ``net.core.somaxconn`` caps it)."""
    static_dir: Path = Path(__file__).parent / "static"
    """The dashboard (``index.html``, ``app.js``) and the bundled ``vendor/hls.min.js``."""
    watch_timeout_seconds: int = Field(default=300, ge=5)
    """Server-side timeout of one watch request; the watch is re-opened from the last version."""
    event_history: int = Field(default=1000, ge=10)
    """Watch events kept so that a reconnecting client can resume instead of re-reading all."""
    log_level: str = "info"
    prober_socket: Path | None = None
    """The prober container's unix socket (``HLSFORGE_PROBER_SOCKET``): uploads are probed
    there, by a process that holds no credential. Unset (tests, dev): the same sandboxed
    ffprobe child runs from this process."""
    prober_limits: SandboxLimits = Field(default_factory=SandboxLimits)
    """Limits of the in-process sandbox (``HLSFORGE_PROBER_LIMITS__CPU_SECONDS`` ...); with a
    socket, the prober's own settings apply and only ``timeout_seconds`` is read here."""

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> UploaderSettings:
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("HLSFORGE_STORAGE=s3 needs HLSFORGE_S3_BUCKET")
        return self

    @model_validator(mode="after")
    def _grace_outlasts_takeover(self) -> UploaderSettings:
        if self.orphan_grace_seconds <= self.idempotency_takeover_seconds:
            raise ValueError(
                "HLSFORGE_ORPHAN_GRACE_SECONDS must exceed HLSFORGE_IDEMPOTENCY_TAKEOVER_SECONDS"
            )
        # The longest a live upload's partial file can go unwritten: one body window, plus one
        # write buffer arriving at the slowest rate allowed.
        quiet = (
            self.body_idle_timeout_seconds
            + self.write_buffer_bytes / self.body_min_bytes_per_second
        )
        if self.orphan_grace_seconds <= quiet:
            raise ValueError(
                f"HLSFORGE_ORPHAN_GRACE_SECONDS must exceed {quiet:.0f} s, the longest a live "
                "upload's partial file can go unwritten (body window + write buffer / min rate)"
            )
        return self

    @field_validator("tokens", "cors_origins", "admins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def uploads_in_flight_cap(self) -> int:
        """How many uploads one replica streams at once (``upload_memory_bytes`` / one's)."""
        one = self.write_buffer_bytes + (3 * self.s3_part_bytes if self.storage == "s3" else 0)
        return max(1, self.upload_memory_bytes // one)

    def token_entries(self) -> list[tuple[str, str]]:
        """Every (name, token) accepted now, from ``tokens``, ``token_file`` and ``token_dir``
        (``auth.tokens``: read now, so a rotated Secret takes effect without a restart)."""
        env = [t.get_secret_value() for t in self.tokens]
        return all_entries(env, self.token_file, self.token_dir)


class ProberSettings(BaseSettings):
    """The prober container (``python3 -m hlsforge_uploader.prober``): same variable names as
    the uploader's ``prober_*`` settings, so the chart sets each once."""

    model_config = SettingsConfigDict(
        env_prefix="HLSFORGE_PROBER_", env_nested_delimiter="__", use_attribute_docstrings=True
    )

    socket: Path
    """Where to listen (a shared emptyDir); a stale socket file is replaced."""
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    """What each ffprobe child may spend."""
    allowed_uid: int | None = Field(default=None, ge=0)
    """Only a peer with this uid (``SO_PEERCRED``) may ask for probes; None: any peer."""
    max_concurrent: int = Field(default=2, ge=1, le=16)
    """Probes at once; further connections wait in the listen backlog."""
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """A connected peer must send its whole request within this time."""
    log_level: str = "info"


@lru_cache
def get_settings() -> UploaderSettings:
    """The process's settings; a FastAPI dependency that tests override."""
    return UploaderSettings()
