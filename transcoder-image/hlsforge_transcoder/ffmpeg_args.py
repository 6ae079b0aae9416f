"""Build the one ffmpeg command of a transcode from its plan. Pure: tested by equality.

One process decodes the source once and feeds every rendition, the poster and the sprite sheet
(``split`` in one ``-filter_complex``): a second pass for thumbnails would decode the whole
source again (about 18% of a 3-rung 1080p encode on our machines) while ``select`` branches
cost almost nothing (``fps=1/N`` is not used for the sprite: it emits nothing for a clip
shorter than N/2). Keyframes are forced at every segment boundary on every encoded rendition
(``expr:gte(t,n_forced*SEG)``, IDR, no scene-cut keyframes, GOP = segment) so the hls muxer
cuts all variants at the same instants.

The poster selects the first frame and then the first frame at ``poster_at`` (at most two
JPEGs, the second overwriting the first): a video whose pictures end before ``poster_at``
(shorter than its audio, and no stream duration to plan with) still gets a poster. Images are
written ``-fps_mode passthrough``: image2 defaults to constant rate, which would repeat the
first frame to fill the gap and stop there.
"""

from __future__ import annotations

from fractions import Fraction

from hlsforge_api.v1alpha1 import SegmentFormat, VideoCodec
from hlsforge_media.limits import Limits
from hlsforge_media.media_input import MediaInput
from hlsforge_output.manifest import INIT, PLAYLIST, POSTER, SPRITE
from hlsforge_transcoder.ladder import Plan


def segment_extension(fmt: SegmentFormat) -> str:
    return "ts" if fmt is SegmentFormat.TS else "m4s"


def _rate(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def filter_graph(plan: Plan) -> str | None:
    """The ``-filter_complex`` text, or ``None`` when nothing needs decoding (pure copy)."""
    chains: list[str] = []
    labels: list[str] = []
    for index, rendition in enumerate(plan.renditions):
        if rendition.copy:
            continue
        labels.append(f"b{index}")
        chains.append(
            f"[b{index}]scale={rendition.width}:{rendition.height},setsar=1,format=yuv420p[v{index}]"
        )
    if plan.poster_at is not None:
        labels.append("bp")
        top, at = plan.top, _seconds(plan.poster_at)
        chains.append(
            f"[bp]select='eq(n\\,0)+lt(prev_selected_t\\,{at})*gte(t\\,{at})',"
            f"scale={top.width}:{top.height},setsar=1[poster]"
        )
    if plan.sprite is not None:
        s = plan.sprite
        labels.append("bs")
        chains.append(
            f"[bs]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{_seconds(s.interval_s)})',"
            f"scale={s.tile_width}:{s.tile_height},setsar=1,tile={s.columns}x{s.rows}[sprite]"
        )
    if not labels:
        return None
    hold = plan.hold_last_picture_s
    pad = f"tpad=stop_mode=clone:stop_duration={_seconds(hold)}," if hold else ""
    head = f"[0:v:0]{pad}fps={_rate(plan.fps)},split={len(labels)}"
    head += "".join(f"[{x}]" for x in labels)
    return ";".join([head, *chains])


def _video_codec_args(plan: Plan, index: int, kbps: int, max_kbps: int, buf_kbps: int) -> list[str]:
    gop = max(1, round(plan.segment_duration * plan.fps))
    spec = f"v:{index}"
    args = [f"-b:{spec}", f"{kbps}k", f"-maxrate:{spec}", f"{max_kbps}k"]
    args += [f"-bufsize:{spec}", f"{buf_kbps}k", f"-g:{spec}", str(gop)]
    args += [f"-force_key_frames:{spec}", f"expr:gte(t,n_forced*{plan.segment_duration})"]
    args += [f"-fps_mode:{spec}", "cfr", f"-r:{spec}", _rate(plan.fps)]
    if plan.codec is VideoCodec.H264:
        return [f"-c:{spec}", "libx264", *args, f"-keyint_min:{spec}", str(gop)]
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error"
    return [f"-c:{spec}", "libx265", *args, f"-x265-params:{spec}", params, f"-tag:{spec}", "hvc1"]


def build_args(
    plan: Plan, *, source: MediaInput, demuxer: str, out_dir: str, limits: Limits
) -> list[str]:
    """The complete argv of the transcode, writing every output below ``out_dir``.

    ``source`` brings its URL and its own protocol allow-list (``file`` for a file; only the
    presigned URL's scheme for S3: ``-progress pipe:1`` is a global option and needs no input
    protocol); ``demuxer`` is the probed
    ``-f`` name, already checked against the allow-list. Progress goes to stdout as
    ``-progress`` key=value blocks; errors to stderr.
    """
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
    args += ["-max_alloc", str(limits.max_alloc_bytes), "-progress", "pipe:1"]
    args += ["-protocol_whitelist", source.protocols, "-format_whitelist", limits.allowed_demuxers]
    args += ["-f", demuxer, "-max_pixels", str(limits.max_pixels)]
    if limits.threads:
        args += ["-threads", str(limits.threads)]
    args += [*source.options, "-t", _seconds(limits.max_duration_s), "-i", source.url]
    graph = filter_graph(plan)
    if graph is not None:
        args += ["-filter_complex", graph]

    stream_map: list[str] = []
    for index, rendition in enumerate(plan.renditions):
        args += ["-map", "0:v:0" if rendition.copy else f"[v{index}]"]
        entry = f"v:{index}"
        if plan.audio is not None:
            args += ["-map", "0:a:0"]
            entry += f",a:{index}"
        stream_map.append(f"{entry},name:{rendition.name}")
    for index, rendition in enumerate(plan.renditions):
        if rendition.copy:
            args += [f"-c:v:{index}", "copy"]
        else:
            args += _video_codec_args(
                plan, index, rendition.video_kbps, rendition.max_kbps, rendition.bufsize_kbps
            )
    if any(not r.copy for r in plan.renditions):
        args += ["-preset", plan.preset]
        if plan.codec is VideoCodec.H264:
            args += ["-sc_threshold", "0"]
        args += ["-forced-idr", "1"]
    if plan.audio is not None:
        args += ["-c:a", "aac", "-b:a", f"{plan.audio.bitrate_kbps}k"]
        args += ["-ac", str(plan.audio.channels)]
    if limits.threads:
        args += ["-threads", str(limits.threads)]
    ext = segment_extension(plan.segment_format)
    args += ["-map_metadata", "-1", "-map_chapters", "-1", "-f", "hls"]
    args += ["-hls_time", str(plan.segment_duration), "-hls_playlist_type", "vod"]
    segment_type = "mpegts" if plan.segment_format is SegmentFormat.TS else "fmp4"
    args += ["-hls_list_size", "0", "-hls_segment_type", segment_type]
    if plan.segment_format is SegmentFormat.FMP4:
        args += ["-hls_fmp4_init_filename", INIT]
    args += ["-hls_flags", "independent_segments+temp_file"]
    args += ["-hls_segment_filename", f"{out_dir}/%v/seg_%05d.{ext}"]
    args += ["-var_stream_map", " ".join(stream_map), f"{out_dir}/%v/{PLAYLIST}"]
    images = (  # (label, file, JPEG quality, frames written: each overwrites the one before)
        ("poster", POSTER, "3", "2" if plan.poster_at is not None else None),
        ("sprite", SPRITE, "4", "1" if plan.sprite else None),
    )
    for label, name, quality, frames in images:
        if frames is None:
            continue
        args += ["-map", f"[{label}]", "-frames:v", frames, "-fps_mode", "passthrough"]
        args += ["-update", "1", "-c:v", "mjpeg"]
        args += ["-q:v", quality, "-map_metadata", "-1", "-f", "image2", f"{out_dir}/{name}"]
    return args
