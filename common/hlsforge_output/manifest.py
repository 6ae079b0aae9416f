"""The output's layout and its ``manifest.json``: the names every output uses, and how a manifest
becomes ``status.outputs``.

``manifest.json`` is the output's own description and integrity record: renditions, segment
counts, durations, and the size and SHA-256 of every file. The engine writes it
(``hlsforge_transcoder.manifest_build``); ``verify`` checks a tree against it; the operator fills
``status.outputs`` from it with ``outputs``. Pure.
"""

from __future__ import annotations

from typing import Any

from hlsforge_api.v1alpha1 import Outputs, RenditionOutput

MANIFEST = "manifest.json"
SCHEMA = "hlsforge.io/manifest/v1"

PLAYLIST = "index.m3u8"
"""Each rendition's media playlist, in the rendition's folder."""
MASTER = "master.m3u8"
POSTER = "poster.jpg"
SPRITE = "sprite.jpg"
SPRITE_VTT = "sprite.vtt"
INIT = "init.mp4"
"""The fMP4 initialization segment of a rendition."""


def outputs(manifest: dict[str, Any], location: str) -> Outputs:
    """``status.outputs`` for an output committed at ``location`` (volume path or URI prefix)."""
    base = location.rstrip("/")

    def at(name: str | None) -> str | None:
        return None if name is None else f"{base}/{name}"

    return Outputs(
        master_playlist=f"{base}/{manifest['master']}",
        renditions=[
            RenditionOutput(
                name=r["name"],
                playlist=r["playlist"],
                resolution=f"{r['width']}x{r['height']}",
                bandwidth=r["bandwidth"],
                average_bandwidth=r["averageBandwidth"],
                codecs=r["codecs"],
                copied=r["copied"],
            )
            for r in manifest["renditions"]
        ],
        poster=at(manifest.get("poster")),
        sprite=at(manifest.get("sprite")),
        thumbnails_vtt=at(manifest.get("spriteVtt")),
        duration_seconds=manifest["durationSeconds"],
    )
