"""The transcoder engine: untrusted upload in, verified HLS out.

Pure decisions (``sniff``, ``probe.parse``/``validate``, ``ladder``, ``ffmpeg_args``,
``progress``, ``hls``, ``manifest``) are kept apart from the one module that runs processes and
touches the destination (``run``). ``python -m hlsforge_transcoder`` is the container entrypoint.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hlsforge")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"
