"""The operator's view of the shared media volume: verify outputs, delete sources and outputs.

Every location comes from a TranscodeJob spec and is resolved strictly inside the volume's
root (symlinks included), so a spec can never make the operator touch anything else.
Deletes are idempotent: a missing file is the goal reached, not an error.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from hlsforge_api.v1alpha1 import Outputs
from hlsforge_transcoder.errors import TranscodeError
from hlsforge_transcoder.manifest import outputs
from hlsforge_transcoder.verify import verify_dir


class StorageError(Exception):
    """The location cannot be used (outside the volume, or an I/O failure)."""


class MediaStore(Protocol):
    def verify(self, output: str) -> Outputs:
        """Re-read a committed output; raise StorageError (with the reason) if it is not whole."""
        ...

    def delete_source(self, source: str) -> bool:
        """Delete the source; True if it existed."""
        ...

    def delete_output(self, output: str) -> bool:
        """Delete a committed output and any partial attempts; True if anything existed."""
        ...

    def clean_partial(self, output: str) -> int:
        """Remove partial attempt directories next to ``output``; returns how many."""
        ...


class VolumeStore:
    """The shared volume (a ReadWriteMany PVC) mounted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, location: str) -> Path:
        if location.startswith("s3://"):
            raise StorageError(f"{location} is an S3 URI; this operator is set up for a volume")
        candidate = (self.root / location).resolve()
        if candidate == self.root or self.root not in candidate.parents:
            raise StorageError(f"{location!r} resolves outside the media volume")
        return candidate

    def verify(self, output: str) -> Outputs:
        try:
            return outputs(verify_dir(self.path(output)), output)
        except TranscodeError as exc:
            raise StorageError(str(exc)) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {output}: {exc}") from exc

    def delete_source(self, source: str) -> bool:
        try:
            self.path(source).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {source}: {exc}") from exc
        return True

    def _partials(self, output: str) -> list[Path]:
        target = self.path(output)
        return sorted(target.parent.glob(f"{target.name}.tmp-*"))

    def clean_partial(self, output: str) -> int:
        partials = self._partials(output)
        for partial in partials:
            shutil.rmtree(partial, ignore_errors=True)
        return len(partials)

    def delete_output(self, output: str) -> bool:
        target = self.path(output)
        existed = target.exists()
        if existed:
            shutil.rmtree(target)
        return self.clean_partial(output) > 0 or existed
