"""What every part of the TranscodeJob API shares: its names, the base model, CEL rules."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

GROUP = "hlsforge.io"
VERSION = "v1alpha1"
API_VERSION: Final = "hlsforge.io/v1alpha1"
KIND: Final = "TranscodeJob"
PLURAL = "transcodejobs"
SINGULAR = "transcodejob"
SHORT_NAMES = ("tj",)
MAX_NAME_LENGTH = 52
"""A TranscodeJob's name prefixes its Job's and pods' names and is a label value (<= 63)."""


def cel(*rules: dict[str, Any]) -> dict[str, Any]:
    """CEL rules for the API server, as ``json_schema_extra`` of a model or a field."""
    return {"x-kubernetes-validations": list(rules)}


class ApiModel(BaseModel):
    """Base for every API object: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_assignment=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-compatible dict Kubernetes stores (camelCase, unset optionals left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
