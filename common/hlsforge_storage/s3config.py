"""How to reach S3: read from ``HLSFORGE_S3_*`` variables. Pure; no credentials here.

Credentials always come from boto3's default chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
from a Secret, a web-identity token for IRSA on EKS, an instance profile), never from a spec,
a setting that is logged, or a command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

ADDRESSING = ("auto", "path", "virtual")


class S3ConfigError(ValueError):
    pass


def _endpoint(name: str, value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise S3ConfigError(f"{name} must be an http(s)://host[:port] URL, not {value!r}")
    return value.rstrip("/")


@dataclass(frozen=True)
class S3Config:
    endpoint: str | None = None
    """Where this process reaches S3; None is AWS itself (the region's endpoint)."""
    public_endpoint: str | None = None
    """The endpoint in URLs handed to browsers and clients (presigned); defaults to ``endpoint``."""
    region: str = "us-east-1"
    addressing: str = "auto"
    """``path`` for most S3-compatible servers; ``virtual``/``auto`` for AWS."""
    presign_seconds: int = 3600
    """Lifetime of presigned URLs given to players and direct uploads."""
    source_access: str = "stream"
    """How the transcoder reads an S3 source: ``stream`` (ranged reads over a presigned URL,
    nothing copied) or ``download`` (to scratch first)."""
    max_attempts: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> S3Config:
        def get(name: str, default: str = "") -> str:
            return env.get(f"HLSFORGE_S3_{name}", default).strip()

        addressing = get("ADDRESSING", "auto")
        if addressing not in ADDRESSING:
            raise S3ConfigError(f"HLSFORGE_S3_ADDRESSING must be one of {ADDRESSING}")
        access = get("SOURCE_ACCESS", "stream")
        if access not in ("stream", "download"):
            raise S3ConfigError("HLSFORGE_S3_SOURCE_ACCESS must be stream or download")
        try:
            presign = int(get("PRESIGN_SECONDS", "3600"))
        except ValueError:
            raise S3ConfigError("HLSFORGE_S3_PRESIGN_SECONDS must be an integer") from None
        if not 60 <= presign <= 7 * 24 * 3600:
            raise S3ConfigError("HLSFORGE_S3_PRESIGN_SECONDS must be within 60..604800")
        region = get("REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        return cls(
            endpoint=_endpoint("HLSFORGE_S3_ENDPOINT", get("ENDPOINT")),
            public_endpoint=_endpoint("HLSFORGE_S3_PUBLIC_ENDPOINT", get("PUBLIC_ENDPOINT")),
            region=region or "us-east-1",
            addressing=addressing,
            presign_seconds=presign,
            source_access=access,
        )

    def to_env(self) -> dict[str, str]:
        """The variables that reproduce this config in another process (a transcoder pod)."""
        env = {
            "HLSFORGE_S3_REGION": self.region,
            "HLSFORGE_S3_ADDRESSING": self.addressing,
            "HLSFORGE_S3_PRESIGN_SECONDS": str(self.presign_seconds),
            "HLSFORGE_S3_SOURCE_ACCESS": self.source_access,
        }
        if self.endpoint:
            env["HLSFORGE_S3_ENDPOINT"] = self.endpoint
        return env
