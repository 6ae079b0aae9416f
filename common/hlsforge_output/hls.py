"""Read our variant playlists and write our own master playlist. Pure.

ffmpeg's ``master_pl_name`` writes BANDWIDTH from the *configured* bitrates. Ours is measured from
the segments actually written: BANDWIDTH is the peak segment bitrate, AVERAGE-BANDWIDTH the mean
over the whole variant, CODECS comes from the profile/level of the written stream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_H264_PROFILES = {
    "Constrained Baseline": "42e0",
    "Baseline": "4200",
    "Main": "4d40",
    "Extended": "5800",
    "High": "6400",
    "High 10": "6e00",
    "High 4:2:2": "7a00",
    "High 4:4:4 Predictive": "f400",
}
_AAC_OBJECT_TYPES = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29, "Main": 1, "LTP": 4}


class PlaylistError(ValueError):
    pass


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration: int
    segments: tuple[Segment, ...]
    init_uri: str | None
    ended: bool

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int
    average_bandwidth: int
    codecs: str
    width: int
    height: int
    frame_rate: float


def _check_uri(uri: str) -> str:
    """Only plain relative names below the playlist: no scheme, no absolute path, no ``..``."""
    if not uri or ":" in uri or uri.startswith("/") or ".." in uri.split("/") or "\\" in uri:
        raise PlaylistError(f"segment URI {uri!r} is not a relative file name")
    return uri


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Parse a VOD media playlist as ffmpeg writes it; raise ``PlaylistError`` if malformed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("playlist does not start with #EXTM3U")
    target: int | None = None
    init: str | None = None
    ended = False
    pending: float | None = None
    segments: list[Segment] = []
    for line in lines[1:]:
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-MAP:"):
            attrs = parse_attributes(line.partition(":")[2])
            init = _check_uri(attrs.get("URI", "").strip('"'))
        elif line.startswith("#EXTINF:"):
            try:
                pending = float(line.partition(":")[2].partition(",")[0])
            except ValueError:
                raise PlaylistError(f"bad EXTINF line {line!r}") from None
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif not line.startswith("#"):
            if pending is None:
                raise PlaylistError(f"segment {line!r} has no EXTINF")
            segments.append(Segment(_check_uri(line), pending))
            pending = None
    if target is None:
        raise PlaylistError("playlist has no EXT-X-TARGETDURATION")
    if not segments:
        raise PlaylistError("playlist has no segments")
    return MediaPlaylist(target, tuple(segments), init, ended)


def parse_attributes(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _ATTR.finditer(text)}


def parse_master(text: str) -> list[tuple[dict[str, str], str]]:
    """``(attributes, uri)`` of every EXT-X-STREAM-INF in a master playlist."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("master playlist does not start with #EXTM3U")
    variants: list[tuple[dict[str, str], str]] = []
    attrs: dict[str, str] | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = parse_attributes(line.partition(":")[2])
        elif not line.startswith("#") and attrs is not None:
            variants.append((attrs, _check_uri(line)))
            attrs = None
    if not variants:
        raise PlaylistError("master playlist lists no variants")
    return variants


def bandwidths(segments: Sequence[tuple[float, int]]) -> tuple[int, int]:
    """(peak, average) bits per second from ``(duration, bytes)`` per segment.

    A final segment shorter than half the others is left out of the peak: one keyframe in a
    tenth of a second would otherwise claim a peak the stream never sustains.
    """
    if not segments:
        return 0, 0
    total_s = sum(d for d, _ in segments)
    average = round(sum(b for _, b in segments) * 8 / total_s) if total_s > 0 else 0
    measured = list(segments)
    if len(measured) > 1:
        longest = max(d for d, _ in measured[:-1])
        if measured[-1][0] < longest / 2:
            measured = measured[:-1]
    peak = max(round(b * 8 / d) for d, b in measured if d > 0) if total_s > 0 else 0
    return max(peak, average), average


def avc_codec(profile: str | None, level: int | None) -> str:
    prefix = _H264_PROFILES.get(profile or "", "6400")
    return f"avc1.{prefix}{(level or 40):02x}"


def hevc_codec(profile: str | None, level: int | None) -> str:
    if profile == "Main 10":
        return f"hvc1.2.4.L{level or 120}.B0"
    return f"hvc1.1.6.L{level or 120}.B0"


def aac_codec(profile: str | None) -> str:
    return f"mp4a.40.{_AAC_OBJECT_TYPES.get(profile or 'LC', 2)}"


def _reverse_bits32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def codec_from_init(init: bytes) -> str | None:
    """The exact video CODECS entry from an fMP4 init segment's ``avcC``/``hvcC`` box.

    RFC 6381 for avc1 (profile, constraint flags, level bytes as written) and ISO/IEC 14496-15
    Annex E for hvc1. ``None`` when neither box is found.
    """
    at = init.find(b"avcC")
    if at >= 0 and len(init) >= at + 8:
        profile, constraints, level = init[at + 5], init[at + 6], init[at + 7]
        return f"avc1.{profile:02x}{constraints:02x}{level:02x}"
    at = init.find(b"hvcC")
    if at >= 0 and len(init) >= at + 17:
        box = init[at + 4 :]
        space = "" if box[1] >> 6 == 0 else "ABC"[(box[1] >> 6) - 1]
        tier = "H" if box[1] & 0x20 else "L"
        compat = _reverse_bits32(int.from_bytes(box[2:6], "big"))
        flags = bytes(box[6:12]).rstrip(b"\x00")
        parts = [f"hvc1.{space}{box[1] & 0x1F}", f"{compat:X}", f"{tier}{box[12]}"]
        parts += [f"{b:X}" for b in flags] or ["B0"]
        return ".".join(parts)
    return None


def render_master(variants: Sequence[Variant], *, version: int) -> str:
    """The master playlist text, variants in the given order (the first one is the default)."""
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},"
            f'CODECS="{v.codecs}",RESOLUTION={v.width}x{v.height},FRAME-RATE={v.frame_rate:.3f}'
        )
        lines.append(_check_uri(v.uri))
    return "\n".join(lines) + "\n"
