"""Which storage backend the settings select, built once by the app's lifespan.

The only place that knows both backends. S3 settings that belong to the object store itself
(endpoint, public endpoint, region, addressing, presigned URL lifetime) are the shared
``HLSFORGE_S3_*`` variables read by ``hlsforge_storage.s3config``, the same the operator and
the transcoder read; credentials come only from boto3's default chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hlsforge_storage.areas import Areas
from hlsforge_storage.claim_spaces import BucketSpace, ClaimError, VolumeSpace
from hlsforge_storage.claims import Ownership
from hlsforge_storage.s3 import S3Objects
from hlsforge_storage.s3config import S3Config
from hlsforge_uploader.settings import UploaderSettings
from hlsforge_uploader.storage.bucket import S3Storage
from hlsforge_uploader.storage.bucket_direct import DirectUploads
from hlsforge_uploader.storage.interface import Storage
from hlsforge_uploader.storage.volume import VolumeStorage


@dataclass(frozen=True)
class Backend:
    storage: Storage
    direct: DirectUploads | None
    """Direct (presigned) uploads; only an object store offers them."""
    ownership: Ownership
    """The claim records: each upload is reserved for the TranscodeJob created for it."""


def open_backend(settings: UploaderSettings, env: Mapping[str, str]) -> Backend:
    """The configured backend; raises ``S3ConfigError`` for invalid ``HLSFORGE_S3_*``."""
    if settings.storage == "volume":
        storage = VolumeStorage(settings.media_root, settings.uploads_dir, settings.output_dir)
        return Backend(storage, None, _ownership(settings, VolumeSpace(settings.media_root), None))
    objects = S3Objects.from_config(S3Config.from_env(env))
    s3 = S3Storage(
        objects,
        settings.s3_bucket,
        settings.uploads_dir,
        settings.output_dir,
        settings.s3_part_bytes,
        settings.s3_delivery,
    )
    bucket = BucketSpace(objects, settings.s3_bucket)
    return Backend(s3, DirectUploads(s3), _ownership(settings, None, bucket))


def _ownership(
    settings: UploaderSettings, volume: VolumeSpace | None, bucket: BucketSpace | None
) -> Ownership:
    def space_of(name: str) -> BucketSpace:
        if bucket is None or name != settings.s3_bucket:
            raise ClaimError(f"the uploader keeps no claims in bucket {name!r}")
        return bucket

    areas = Areas(
        sources=settings.uploads_dir,
        outputs=settings.output_dir,
        claims=settings.claims_dir,
        buckets=frozenset({settings.s3_bucket} if bucket is not None else ()),
    )
    return Ownership(areas, volume, space_of)
