"""Building ``manifest.json`` (format: ``hlsforge_output.manifest``) and the master playlist's
variant facts from what ffmpeg wrote. Building is pure; ``hash_tree`` reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hlsforge_api.v1alpha1 import SegmentFormat, VideoCodec
from hlsforge_media.probe import ProbeResult
from hlsforge_output.hls import (
    MediaPlaylist,
    Variant,
    aac_codec,
    avc_codec,
    bandwidths,
    hevc_codec,
)
from hlsforge_output.manifest import MANIFEST, MASTER, POSTER, SCHEMA, SPRITE, SPRITE_VTT
from hlsforge_output.tree import sha256_file
from hlsforge_transcoder.ladder import Plan, PlannedRendition


@dataclass(frozen=True)
class StreamFacts:
    """What ffprobe says about the first segment of a variant."""

    video_profile: str | None
    video_level: int | None
    audio_profile: str | None
    has_audio: bool
    video_codec: str | None = None
    """Exact CODECS entry read from an fMP4 init segment, preferred when present."""


@dataclass(frozen=True)
class RenditionFacts:
    planned: PlannedRendition
    playlist_path: str
    """Relative to the output root, e.g. ``720p/index.m3u8``."""
    playlist: MediaPlaylist
    segment_bytes: tuple[int, ...]
    streams: StreamFacts


def codecs(plan: Plan, streams: StreamFacts) -> str:
    if streams.video_codec is not None:
        video = streams.video_codec
    elif plan.codec is VideoCodec.H265:
        video = hevc_codec(streams.video_profile, streams.video_level)
    else:
        video = avc_codec(streams.video_profile, streams.video_level)
    return f"{video},{aac_codec(streams.audio_profile)}" if streams.has_audio else video


def variant(plan: Plan, facts: RenditionFacts) -> Variant:
    durations = [s.duration for s in facts.playlist.segments]
    peak, average = bandwidths(list(zip(durations, facts.segment_bytes, strict=True)))
    return Variant(
        uri=facts.playlist_path,
        bandwidth=peak,
        average_bandwidth=average,
        codecs=codecs(plan, facts.streams),
        width=facts.planned.width,
        height=facts.planned.height,
        frame_rate=float(plan.fps),
    )


def playlist_version(plan: Plan) -> int:
    return 7 if plan.segment_format is SegmentFormat.FMP4 else 6


def build_manifest(
    plan: Plan,
    probe: ProbeResult,
    renditions: list[RenditionFacts],
    files: dict[str, dict[str, Any]],
    *,
    engine_version: str,
) -> dict[str, Any]:
    """The manifest document. ``files`` maps every other file of the output to bytes/sha256."""
    entries = []
    for facts in renditions:
        v = variant(plan, facts)
        entries.append(
            {
                "name": facts.planned.name,
                "playlist": facts.playlist_path,
                "width": v.width,
                "height": v.height,
                "bandwidth": v.bandwidth,
                "averageBandwidth": v.average_bandwidth,
                "codecs": v.codecs,
                "frameRate": round(v.frame_rate, 3),
                "copied": facts.planned.copy,
                "segmentCount": len(facts.playlist.segments),
                "durationSeconds": round(facts.playlist.duration, 3),
            }
        )
    return {
        "schema": SCHEMA,
        "engine": {"name": "hlsforge-transcoder", "version": engine_version},
        "source": probe.summary(),
        "durationSeconds": round(plan.duration, 3),
        "segmentDuration": plan.segment_duration,
        "segmentFormat": plan.segment_format.value,
        "master": MASTER,
        "renditions": entries,
        "poster": POSTER if plan.poster_at is not None else None,
        "sprite": SPRITE if plan.sprite is not None else None,
        "spriteVtt": SPRITE_VTT if plan.sprite is not None else None,
        "notes": list(plan.notes),
        "files": dict(sorted(files.items())),
    }


def file_fact(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def list_tree(root: Path) -> list[str]:
    """Every regular file below ``root`` as a relative POSIX path, sorted."""
    found: list[str] = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            found.append((Path(directory) / name).relative_to(root).as_posix())
    return sorted(found)


def hash_tree(root: Path, *, exclude: tuple[str, ...] = (MANIFEST,)) -> dict[str, dict[str, Any]]:
    return {rel: file_fact(root / rel) for rel in list_tree(root) if rel not in exclude}
