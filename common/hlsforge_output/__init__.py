"""The output format: HLS playlists, ``manifest.json``, the file layout and verification.

Pure apart from reading a tree; the engine writes outputs in this format, the operator and the
storage layer verify them.
"""
