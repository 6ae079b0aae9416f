"""``python3 -m hlsforge_uploader.prober``: the prober container's entry point (the chart's
``deployment-uploader.yaml`` runs it)."""

from __future__ import annotations

from hlsforge_uploader.prober.server import main

if __name__ == "__main__":
    main()
