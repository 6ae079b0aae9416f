"""Re-read a finished output and prove it is whole before it is committed (and after).

Checks, in order: the manifest parses; the files on disk are exactly the manifest's, each with
its size and SHA-256; planned thumbnails exist; the master playlist parses and lists the
manifest's renditions with every required attribute; every variant playlist parses, is ended,
and its segments (and init section) exist; all variants have the same segment count; each
variant's duration is within one target duration of the source's. The first failure raises
``VerifyFailed`` with a reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hlsforge_api.errors import VerifyFailed
from hlsforge_output.hls import PlaylistError, parse_master, parse_media_playlist
from hlsforge_output.manifest import MANIFEST
from hlsforge_output.tree import MAX_TREE_BYTES, LocalTree, OutputTree

REQUIRED_ATTRIBUTES = ("BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS", "RESOLUTION", "FRAME-RATE")


def _read_manifest(tree: OutputTree) -> dict[str, Any]:
    try:
        data = json.loads(tree.read_text(MANIFEST))
    except FileNotFoundError:
        raise VerifyFailed("ManifestMissing", f"{tree.name} has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise VerifyFailed("ManifestInvalid", f"{MANIFEST} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise VerifyFailed("ManifestInvalid", f"{MANIFEST} has no file list")
    return data


def _check_files(tree: OutputTree, listed: dict[str, Any], *, checksums: bool) -> None:
    try:
        sizes = tree.sizes()
    except OSError as exc:
        raise VerifyFailed("OutputUnreadable", f"cannot list {tree.name}: {exc}") from None
    present = set(sizes) - {MANIFEST}
    if present != set(listed):
        missing = sorted(set(listed) - present)[:3]
        extra = sorted(present - set(listed))[:3]
        raise VerifyFailed("FilesMismatch", f"missing {missing}, unexpected {extra}")
    for rel, expected in listed.items():
        if sizes[rel] != expected.get("bytes"):
            raise VerifyFailed("SizeMismatch", f"{rel} is not {expected.get('bytes')} bytes")
        if not checksums:
            continue
        try:
            digest = tree.sha256(rel)
        except OSError as exc:
            raise VerifyFailed("OutputUnreadable", f"cannot read {rel}: {exc}") from None
        if digest != expected.get("sha256"):
            raise VerifyFailed("ChecksumMismatch", f"{rel} does not match its size or checksum")


def _text(tree: OutputTree, rel: str) -> str:
    try:
        return tree.read_text(rel)
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifyFailed("PlaylistUnreadable", f"{rel}: {exc}") from None


def verify_dir(
    root: Path,
    *,
    source_duration: float | None = None,
    checksums: bool = True,
    max_bytes: int = MAX_TREE_BYTES,
) -> dict[str, Any]:
    """Verify the output in directory ``root``; see ``verify_tree``. Only regular files count
    (a link, FIFO or device fails it), and it reads at most ``max_bytes``."""
    tree = LocalTree(root, max_bytes=max_bytes)
    return verify_tree(tree, source_duration=source_duration, checksums=checksums)


def verify_tree(
    tree: OutputTree, *, source_duration: float | None = None, checksums: bool = True
) -> dict[str, Any]:
    """Verify the output in ``tree`` (a directory or an S3 prefix) and return its manifest;
    raise ``VerifyFailed`` otherwise.

    ``source_duration`` defaults to the duration recorded in the manifest.
    """
    manifest = _read_manifest(tree)
    files: dict[str, Any] = manifest["files"]
    _check_files(tree, files, checksums=checksums)
    for key in ("poster", "sprite", "spriteVtt"):
        name = manifest.get(key)
        if name is not None and name not in files:
            raise VerifyFailed("ThumbnailMissing", f"{name} was planned but not written")
    renditions = manifest.get("renditions") or []
    expected = source_duration if source_duration is not None else manifest.get("durationSeconds")
    try:
        variants = parse_master(_text(tree, manifest.get("master", "")))
        if [uri for _, uri in variants] != [r["playlist"] for r in renditions]:
            raise VerifyFailed("MasterMismatch", "master playlist variants differ from manifest")
        for attrs, uri in variants:
            absent = [a for a in REQUIRED_ATTRIBUTES if not attrs.get(a)]
            if absent:
                raise VerifyFailed("MasterIncomplete", f"{uri} lacks {', '.join(absent)}")
        counts = set()
        for rendition in renditions:
            rel: str = rendition["playlist"]
            playlist = parse_media_playlist(_text(tree, rel))
            folder = rel.rpartition("/")[0]
            names = [s.uri for s in playlist.segments]
            if playlist.init_uri is not None:
                names.append(playlist.init_uri)
            for name in names:
                if (f"{folder}/{name}" if folder else name) not in files:
                    raise VerifyFailed("SegmentMissing", f"{rel} lists {name}, which is missing")
            if not playlist.ended:
                raise VerifyFailed("PlaylistOpen", f"{rel} has no EXT-X-ENDLIST")
            if len(playlist.segments) != rendition.get("segmentCount"):
                raise VerifyFailed("SegmentCountMismatch", f"{rel} differs from the manifest")
            counts.add(len(playlist.segments))
            slack = playlist.target_duration
            if expected is not None and abs(playlist.duration - expected) > slack:
                raise VerifyFailed(
                    "DurationMismatch",
                    f"{rel} lasts {playlist.duration:.2f} s, the source {expected:.2f} s",
                )
    except PlaylistError as exc:
        raise VerifyFailed("PlaylistInvalid", str(exc)) from None
    if len(counts) > 1:
        raise VerifyFailed("SegmentsNotAligned", f"variants have different segment counts {counts}")
    if not renditions:
        raise VerifyFailed("ManifestInvalid", "the manifest lists no renditions")
    return manifest
