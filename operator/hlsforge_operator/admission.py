"""May this TranscodeJob run here at all? Pure checks made before anything is claimed.

Four rules, each refused as ``InvalidSpec`` with a message that names it:
- the platform must have the storage the spec names (``jobspec.unsupported``);
- the spec stays within the per-job maxima (``settings.job_limits``; the message names each
  field beyond its maximum, ``spec.priority: ...``): the backstop of the chart's
  ValidatingAdmissionPolicy, for a cluster without it or a job created before a limit was
  lowered;
- an operator that watches several namespaces (cluster-wide, or a pattern) mounts its media
  volume from its own namespace, so volume locations are accepted only from that namespace
  (other namespaces use S3); each namespace has its own folder in every area;
- the source lies in the sources area and the output in the outputs area (``Areas``).
"""

from __future__ import annotations

from hlsforge_api.job_limits import violations
from hlsforge_api.v1alpha1 import TranscodeJobSpec
from hlsforge_operator.jobspec import unsupported, uses_volume
from hlsforge_operator.settings import OperatorSettings
from hlsforge_storage.areas import AreaError, Areas


def areas(settings: OperatorSettings) -> Areas:
    """The storage areas the settings describe (raises ``AreaError`` when they overlap)."""
    return Areas(
        sources=settings.uploads_dir,
        outputs=settings.output_dir,
        claims=settings.claims_dir,
        work=settings.work_dir,
        buckets=frozenset({settings.s3_bucket} - {""}),
        per_namespace=settings.watches_many,
    )


def refusal(
    spec: TranscodeJobSpec, namespace: str, settings: OperatorSettings, where: Areas
) -> str | None:
    """Why a TranscodeJob of ``namespace`` with ``spec`` may not run, or None."""
    reason = unsupported(spec, settings)
    if reason is not None:
        return reason
    beyond = violations(spec, settings.job_limits)
    if beyond:
        return "; ".join(f"spec.{v}" for v in beyond)
    if (
        settings.watches_many
        and uses_volume(spec)
        and settings.pod_namespace
        and namespace != settings.pod_namespace
    ):
        return (
            f"volume locations are accepted only in namespace {settings.pod_namespace!r} "
            "(the media volume belongs to it); use s3:// locations here"
        )
    try:
        where.check(spec.source, spec.output, namespace)
    except AreaError as exc:
        return str(exc)
    return None
