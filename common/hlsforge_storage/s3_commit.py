"""Publishing an output to S3 so that no reader ever sees it partial, and no retry alters it.

S3 has no rename, so every attempt uploads into its own version folder below the output prefix
(``<output>/v<UTC time>-<random>/``), verifies it there by reading it back (listing with sizes,
the SHA-256 that S3 checked on upload, every playlist and the manifest), and then writes the
commit record ``<output>/commit.json`` with ``If-None-Match: *``. The first attempt to write it
wins; the record is never rewritten, and everything a reader resolves goes through it. A loser
deletes its own version folder and reports the winner's. A version folder that no record names
is an attempt that died; it is swept once nothing has written to it for the stale age.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hlsforge_api.errors import StorageError, VerifyFailed
from hlsforge_output.manifest import MANIFEST
from hlsforge_output.tree import MAX_TEXT, LocalTree, sha256_file
from hlsforge_output.verify import verify_tree
from hlsforge_storage.locations import LocationError, S3Uri
from hlsforge_storage.s3 import ObjectStoreError, S3Objects
from hlsforge_storage.s3_tree import S3Tree

COMMIT = "commit.json"
SCHEMA = "hlsforge.io/commit/v1"


@dataclass(frozen=True)
class CommitRecord:
    version: str
    """The version folder's name, directly below the output prefix."""
    manifest_sha256: str
    committed_at: str

    def render(self) -> bytes:
        body = {
            "schema": SCHEMA,
            "version": self.version,
            "manifestSha256": self.manifest_sha256,
            "committedAt": self.committed_at,
        }
        return (json.dumps(body, indent=2) + "\n").encode()

    @classmethod
    def parse(cls, data: bytes) -> CommitRecord:
        """Raise ``ValueError`` for anything but a record we wrote."""
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("schema") != SCHEMA:
            raise ValueError("not an hlsforge commit record")
        version, digest = body.get("version"), body.get("manifestSha256")
        if not isinstance(version, str) or not version or "/" in version or version in (".", ".."):
            raise ValueError("the commit record names no valid version")
        if not isinstance(digest, str) or len(digest) != 64:
            raise ValueError("the commit record has no manifest checksum")
        return cls(version, digest, str(body.get("committedAt", "")))


def new_version(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return f"v{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def _storage(exc: Exception, what: str) -> StorageError:
    transient = isinstance(exc, ObjectStoreError) and exc.transient
    return StorageError("ObjectStoreFailed", f"{what}: {exc}", transient=transient)


def read_commit(objects: S3Objects, output: S3Uri) -> CommitRecord | None:
    """The output's commit record; None when nothing is committed yet."""
    try:
        if objects.size(output.child(COMMIT)) is None:
            return None
        data = objects.read(output.child(COMMIT))
    except ObjectStoreError as exc:
        raise _storage(exc, f"cannot read {output.child(COMMIT)}") from None
    try:
        return CommitRecord.parse(data)
    except ValueError as exc:
        raise VerifyFailed("CommitInvalid", f"{output.child(COMMIT)}: {exc}") from None


def verify_committed(
    objects: S3Objects, output: S3Uri, *, checksums: bool = True
) -> tuple[S3Uri, dict[str, Any]] | None:
    """``(version root, manifest)`` of the committed output, re-verified from S3; None if
    nothing is committed; ``VerifyFailed`` if what is committed is not whole."""
    record = read_commit(objects, output)
    if record is None:
        return None
    root = output.child(record.version)
    tree = S3Tree(objects, root)
    manifest = verify_tree(tree, checksums=checksums)
    if checksums and tree.sha256(MANIFEST) != record.manifest_sha256:
        raise VerifyFailed("ManifestMismatch", f"{root} holds another manifest than committed")
    return root, manifest


def sweep_versions(
    objects: S3Objects, output: S3Uri, max_age_s: float, now: float | None = None
) -> list[str]:
    """Delete version folders no commit names and nothing wrote to for ``max_age_s``."""
    now = time.time() if now is None else now
    record = read_commit(objects, output)
    newest: dict[str, float] = {}
    keys: dict[str, list[str]] = {}
    try:
        for item in objects.listing(output):
            version, sep, _rest = item.key[len(output.prefix) :].partition("/")
            if not sep or (record is not None and version == record.version):
                continue
            newest[version] = max(newest.get(version, 0.0), item.modified.timestamp())
            keys.setdefault(version, []).append(item.key)
        stale = sorted(v for v, t in newest.items() if now - t > max_age_s)
        for version in stale:
            objects.delete_keys(output.bucket, keys[version])
    except ObjectStoreError as exc:
        raise _storage(exc, f"cannot sweep {output}") from None
    return stale


def publish(
    objects: S3Objects, local: Path | Mapping[str, Path], output: S3Uri
) -> tuple[S3Uri, dict[str, Any], bool]:
    """Upload the verified output in directory ``local`` (or the files of one, relative name
    -> path, manifest included) and commit it.

    Returns ``(committed root, manifest, True)``, or the winner's root and manifest and False
    when another attempt committed first. Any failure before the commit removes this
    attempt's version folder.
    """
    try:
        root = output.child(new_version())
    except LocationError as exc:
        raise StorageError("BadDestination", str(exc)) from None
    if isinstance(local, Path):
        local = {rel: local / rel for rel in LocalTree(local).sizes()}
    if MANIFEST not in local:
        raise VerifyFailed("ManifestMissing", f"no {MANIFEST} in the output to publish")
    manifest, sums = _manifest_sums(local[MANIFEST])
    unlisted = sorted(set(local) - set(sums) - {MANIFEST})
    if unlisted:  # refused before anything is uploaded, never sent without a checksum
        raise VerifyFailed("FilesMismatch", f"unexpected {unlisted[:3]}")
    sums[MANIFEST] = sha256_file(local[MANIFEST])
    files: dict[str, Path | bytes] = {rel: path for rel, path in local.items() if rel != MANIFEST}
    try:
        objects.upload_tree(files, root, sums)
        objects.upload_tree({MANIFEST: local[MANIFEST]}, root, sums)
        verify_tree(S3Tree(objects, root))
        record = CommitRecord(root.relative_to(output), sums[MANIFEST], _now())
        won = objects.put(output.child(COMMIT), record.render(), if_none_match=True,
                          content_type="application/json")  # fmt: skip
    except (ObjectStoreError, VerifyFailed, StorageError) as exc:
        _discard(objects, root)
        if isinstance(exc, VerifyFailed | StorageError):
            raise
        raise _storage(exc, f"cannot publish to {output}") from None
    if won:
        return root, manifest, True
    _discard(objects, root)
    found = verify_committed(objects, output, checksums=False)
    if found is None:
        raise StorageError("CommitLost", f"{output} refused our commit but holds none")
    return found[0], found[1], False


def _manifest_sums(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The manifest to publish and each file's SHA-256 from it; ``VerifyFailed`` for anything
    but a bounded manifest we wrote (what the publisher is handed is untrusted)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TEXT + 1)
        if len(data) > MAX_TEXT:
            raise ValueError(f"larger than {MAX_TEXT} bytes")
        manifest = json.loads(data)
        sums = {rel: str(fact["sha256"]) for rel, fact in manifest["files"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise VerifyFailed("ManifestInvalid", f"{MANIFEST} cannot be read: {exc}") from None
    return manifest, sums


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _discard(objects: S3Objects, root: S3Uri) -> None:
    with contextlib.suppress(ObjectStoreError):  # else swept later: nothing names it
        objects.delete_prefix(root)
