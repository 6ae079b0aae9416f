"""The TranscodeJob API, version v1alpha1: the single definition of the resource.

The operator, the uploader, the transcoder and ``kubectl`` all agree through these models:
the CRD in ``deploy/crds/`` is generated from them (``hlsforge crd``), the uploader validates
requests with them, and the transcoder reads its settings through them. Import every name from
here (``from hlsforge_api.v1alpha1 import TranscodeJobSpec``); the modules only split it by
role: ``base`` (names, ``ApiModel``), ``encoding`` (what the output looks like), ``spec``
(locations, job options, the spec), ``status`` and ``resource`` (the object itself).

Field names follow Kubernetes conventions (camelCase on the wire, snake_case in Python).
Constraints that the API server must also enforce are expressed twice on purpose: as a
pydantic constraint (checked in Python before anything is sent) and, where JSON Schema cannot
say it, as a CEL rule under ``x-kubernetes-validations`` (checked by the API server for
``kubectl apply``). ``tests/integration/test_crd_apiserver.py`` proves on a real API
server that both refuse the same specs.
"""

from hlsforge_api.v1alpha1.base import (
    API_VERSION,
    GROUP,
    KIND,
    MAX_NAME_LENGTH,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    ApiModel,
)
from hlsforge_api.v1alpha1.encoding import (
    AudioSettings,
    EncodingSettings,
    Preset,
    Rendition,
    SegmentFormat,
    SpriteSettings,
    ThumbnailSettings,
    VideoCodec,
    VideoSettings,
)
from hlsforge_api.v1alpha1.resource import ObjectMeta, TranscodeJob
from hlsforge_api.v1alpha1.spec import (
    IMMUTABLE_SPEC_FIELDS,
    LOCATION_PATTERN,
    JobOptions,
    Location,
    Quantity,
    ResourceList,
    Resources,
    SourcePolicy,
    TranscodeJobSpec,
)
from hlsforge_api.v1alpha1.status import (
    Condition,
    ConditionStatus,
    Outputs,
    Phase,
    RenditionOutput,
    TranscodeJobStatus,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "IMMUTABLE_SPEC_FIELDS",
    "KIND",
    "LOCATION_PATTERN",
    "MAX_NAME_LENGTH",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "ApiModel",
    "AudioSettings",
    "Condition",
    "ConditionStatus",
    "EncodingSettings",
    "JobOptions",
    "Location",
    "ObjectMeta",
    "Outputs",
    "Phase",
    "Preset",
    "Quantity",
    "Rendition",
    "RenditionOutput",
    "ResourceList",
    "Resources",
    "SegmentFormat",
    "SourcePolicy",
    "SpriteSettings",
    "ThumbnailSettings",
    "TranscodeJob",
    "TranscodeJobSpec",
    "TranscodeJobStatus",
    "VideoCodec",
    "VideoSettings",
]
