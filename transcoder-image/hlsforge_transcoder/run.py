"""The imperative shell: sniff, probe, plan, run ffmpeg, describe, verify, commit.

Every attempt writes into its own ``<dest>.tmp-<random>`` sibling directory and commits it with
``hlsforge_storage.volume_commit``: the first attempt to commit wins, a retried or duplicated run
that finds a verified output at the destination reports success without encoding (or, if it lost
the race, after encoding), and removes only its own temporary directory.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hlsforge_api.errors import InvalidInput, StorageError, TranscodeError, VerifyFailed
from hlsforge_api.events import Emit, Planned, PlannedRendition, Probed, SourceSummary, ignore
from hlsforge_api.v1alpha1 import EncodingSettings, SegmentFormat
from hlsforge_media.limits import DEFAULT_LIMITS, Limits
from hlsforge_media.media_input import MediaInput, as_input, local_input
from hlsforge_media.probe import (
    ProbeResult,
    capped_runner,
    run_keyframes,
    run_probe,
    tool_caps,
    validate,
)
from hlsforge_media.proc import ToolOutputTooLargeError, ToolTimeoutError
from hlsforge_media.sniff import sniff
from hlsforge_output.hls import codec_from_init, parse_media_playlist, render_master
from hlsforge_output.manifest import MANIFEST, MASTER, PLAYLIST, SPRITE, SPRITE_VTT
from hlsforge_output.verify import verify_dir
from hlsforge_storage.volume_commit import commit, existing_output, fsync_tree, sweep_stale_attempts
from hlsforge_transcoder import __version__
from hlsforge_transcoder.disk_space import NO_SPACE_ERRNOS, free_bytes, no_space, storage_failure
from hlsforge_transcoder.fault_points import pause_at
from hlsforge_transcoder.ffmpeg_args import build_args
from hlsforge_transcoder.ffmpeg_run import run_ffmpeg
from hlsforge_transcoder.ladder import Plan, copy_refusal, plan_ladder
from hlsforge_transcoder.manifest_build import (
    RenditionFacts,
    StreamFacts,
    build_manifest,
    hash_tree,
    playlist_version,
    variant,
)
from hlsforge_transcoder.thumbnails import sprite_vtt


@dataclass(frozen=True)
class Result:
    dest: Path | str
    """The committed output: a directory, or the S3 URI of the committed version."""
    manifest: dict[str, Any]
    committed: bool
    """False when a verified output was already there (an earlier or concurrent attempt)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds: ``inspect`` (sniff/probe/plan), ``encode`` (ffmpeg), ``finalize``
    (describe, manifest, verify, fsync, commit), ``total``. Empty if nothing was encoded."""


def inspect(
    src: Path | MediaInput, settings: EncodingSettings, limits: Limits
) -> tuple[ProbeResult, Plan]:
    """Sniff, probe, validate and plan; raises ``InvalidInput`` for anything we refuse."""
    source = as_input(src)
    sniffed = sniff(source.read_head())
    probe = validate(run_probe(source, limits), limits, sniffed.container)
    plan = plan_ladder(probe, settings, limits)
    refusal = copy_refusal(probe, settings, plan.top, plan.fps)
    if refusal == "keyframes unknown":
        keys = run_keyframes(source, limits, probe.demuxer)
        probe = replace(probe, keyframes=keys)
        plan = plan_ladder(probe, settings, limits)
    return probe, plan


def _stream_facts(path: Path, fmt: SegmentFormat, limits: Limits) -> StreamFacts:
    demuxer = "mpegts" if fmt is SegmentFormat.TS else "mov"
    argv = ["ffprobe", "-v", "error", *tool_caps(limits), "-protocol_whitelist", "file"]
    argv += ["-format_whitelist", "mpegts,mov", "-f", demuxer, "-show_streams", "-of", "json"]
    argv += ["-i", local_input(path).url]
    try:
        done = capped_runner(limits)(argv, limits.probe_timeout_s)
        streams = json.loads(done.stdout).get("streams") or [] if done.returncode == 0 else []
    except (ToolTimeoutError, ToolOutputTooLargeError, OSError, ValueError):
        streams = []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise VerifyFailed("SegmentUnreadable", f"{path.name} has no readable video stream")
    level = video.get("level")
    return StreamFacts(
        video_profile=video.get("profile"),
        video_level=level if isinstance(level, int) and level > 0 else None,
        audio_profile=None if audio is None else audio.get("profile"),
        has_audio=audio is not None,
        video_codec=codec_from_init(path.read_bytes()) if fmt is SegmentFormat.FMP4 else None,
    )


def describe(out_dir: Path, plan: Plan, limits: Limits) -> list[RenditionFacts]:
    """Measure what ffmpeg wrote: playlists, segment sizes, stream profiles."""
    facts: list[RenditionFacts] = []
    for rendition in plan.renditions:
        rel = f"{rendition.name}/{PLAYLIST}"
        try:
            playlist = parse_media_playlist((out_dir / rel).read_text(encoding="utf-8"))
            folder = out_dir / rendition.name
            sizes = tuple((folder / s.uri).stat().st_size for s in playlist.segments)
        except (OSError, ValueError) as exc:
            raise VerifyFailed("OutputIncomplete", f"{rel}: {exc}") from None
        first = folder / (playlist.init_uri or playlist.segments[0].uri)
        streams = _stream_facts(first, plan.segment_format, limits)
        facts.append(RenditionFacts(rendition, rel, playlist, sizes, streams))
    return facts


def planned(plan: Plan) -> Planned:
    """The ``planned`` event: the ladder as the user will get it."""
    return Planned(
        renditions=[
            PlannedRendition(name=r.name, resolution=r.resolution, kbps=r.video_kbps, copy_=r.copy)
            for r in plan.renditions
        ],
        fps=round(float(plan.fps), 3),
        notes=list(plan.notes),
    )


def _expected_bytes(plan: Plan, limits: Limits) -> int:
    kbps = sum(r.max_kbps for r in plan.renditions if not r.copy)
    kbps += sum(4 * r.max_kbps for r in plan.renditions if r.copy)
    kbps += (plan.audio.bitrate_kbps if plan.audio else 0) * len(plan.renditions)
    return int(kbps * 125 * plan.duration * limits.output_bytes_factor) + (64 << 20)


def _encode(
    tmp: Path, source: MediaInput, probe: ProbeResult, plan: Plan, limits: Limits, emit: Emit
) -> None:
    args = build_args(plan, source=source, demuxer=probe.demuxer, out_dir=str(tmp), limits=limits)
    out_time = run_ffmpeg(
        args,
        duration=plan.duration,
        emit=emit,
        limits=limits,
        out_dir=tmp,
        max_bytes=_expected_bytes(plan, limits),
        redact=source.redact,
    )
    # ffmpeg ended cleanly but well before the duration the container claims: the file was cut.
    tolerance = min(plan.segment_duration, max(1.0, 0.02 * plan.duration))
    if out_time < plan.duration - tolerance:
        raise InvalidInput(
            "SourceTruncated",
            f"the source ends at {out_time:.1f} s but claims {plan.duration:.1f} s",
        )


def _finalize(tmp: Path, probe: ProbeResult, plan: Plan, limits: Limits) -> None:
    """Write the sprite cues, the master playlist and the manifest from what ffmpeg wrote."""
    if plan.sprite is not None:
        (tmp / SPRITE_VTT).write_text(sprite_vtt(plan.sprite, plan.duration, SPRITE), "utf-8")
    facts = describe(tmp, plan, limits)
    master = render_master([variant(plan, f) for f in facts], version=playlist_version(plan))
    (tmp / MASTER).write_text(master, encoding="utf-8")
    manifest = build_manifest(plan, probe, facts, hash_tree(tmp), engine_version=__version__)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def transcode(
    src: Path | MediaInput,
    dest: Path,
    settings: EncodingSettings,
    *,
    limits: Limits = DEFAULT_LIMITS,
    emit: Emit = ignore,
) -> Result:
    """Transcode ``src`` into a verified HLS output at ``dest``. Idempotent; raises
    ``TranscodeError`` subclasses (each with its exit code) on failure.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    source, dest = as_input(src), dest.absolute()
    existing = existing_output(dest)
    if existing is not None:
        return Result(dest, existing, committed=False)
    sweep_stale_attempts(dest, limits.stale_attempt_age_s)
    probe, plan = inspect(source, settings, limits)
    emit(Probed(source=SourceSummary.model_validate(probe.summary())))
    emit(planned(plan))
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{dest.name}.tmp-", dir=dest.parent))
    except OSError as exc:
        if exc.errno in NO_SPACE_ERRNOS:
            raise no_space(dest.parent, free_bytes(dest.parent), str(exc)) from None
        raise StorageError("TempDirFailed", f"cannot create a work directory: {exc}") from None
    timings["inspect"] = time.perf_counter() - started
    try:
        try:
            _encode(tmp, source, probe, plan, limits, emit)
            timings["encode"] = time.perf_counter() - started - timings["inspect"]
            pause_at("before-finalize")  # test only, off by default (fault_points)
            _finalize(tmp, probe, plan, limits)
            manifest = verify_dir(tmp, source_duration=plan.duration)
            tmp.chmod(0o755)
            fsync_tree(tmp)
        except (OSError, TranscodeError) as exc:
            failure = storage_failure(tmp, exc)  # a full volume says so (disk_space)
            if failure is None:
                raise
            raise failure from None
        pause_at("before-commit")  # test only, off by default (fault_points)
        committed = commit(tmp, dest)
        if committed:
            pause_at("after-commit")
        else:
            manifest = verify_dir(dest)
        timings["total"] = time.perf_counter() - started
        timings["finalize"] = timings["total"] - timings["encode"] - timings["inspect"]
        rounded = {k: round(v, 3) for k, v in timings.items()}
        return Result(dest, manifest, committed, rounded)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
