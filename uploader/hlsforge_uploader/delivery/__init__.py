"""Serving a Succeeded job's HLS: which paths, types and cache headers (``rules``), from the
volume (``from_volume``) or from the bucket (``from_bucket``: proxied with ``ranges``, or
redirected with ``playlists`` rewritten to presigned URLs)."""
