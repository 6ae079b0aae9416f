"""The WebVTT file that maps playback times to tiles of the sprite sheet. Pure."""

from __future__ import annotations

from hlsforge_transcoder.ladder import SpritePlan


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def sprite_vtt(sprite: SpritePlan, duration: float, image: str) -> str:
    """One cue per tile, ``image#xywh=x,y,w,h``, the last cue ending at ``duration``."""
    lines = ["WEBVTT", ""]
    for index in range(sprite.count):
        start = index * sprite.interval_s
        if start >= duration:
            break
        end = min(start + sprite.interval_s, duration)
        row, column = divmod(index, sprite.columns)
        x, y = column * sprite.tile_width, row * sprite.tile_height
        lines.append(f"{_timestamp(start)} --> {_timestamp(end)}")
        lines.append(f"{image}#xywh={x},{y},{sprite.tile_width},{sprite.tile_height}")
        lines.append("")
    return "\n".join(lines)
