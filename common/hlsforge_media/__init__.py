"""Reading untrusted media safely: sniffing, bounded ffprobe, inputs and the limits on both.

Shared by the engine (which transcodes) and the uploader's prober (which validates uploads).
"""
