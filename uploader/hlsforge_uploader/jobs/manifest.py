"""The TranscodeJob an upload creates: a pure function, no Kubernetes calls."""

from __future__ import annotations

from typing import Any

from hlsforge_api.v1alpha1 import ObjectMeta, TranscodeJob, TranscodeJobSpec
from hlsforge_uploader.models import UploadOptions

APP_LABELS = {"app.kubernetes.io/created-by": "hlsforge-uploader"}


def build_job(
    name: str,
    source: str,
    output: str,
    options: UploadOptions,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The TranscodeJob manifest for one upload, validated by the shared model."""
    spec = TranscodeJobSpec.model_validate(
        {**options.model_dump(by_alias=True, exclude_none=True), "source": source, "output": output}
    )
    job = TranscodeJob(
        metadata=ObjectMeta(
            name=name,
            labels={**APP_LABELS, **(labels or {})},
            annotations=annotations or None,
        ),
        spec=spec,
    )
    return job.to_wire()
