"""ffprobe for the uploader, confined: the sandbox (``sandbox``), the messages on the unix
socket (``protocol``), the prober container's server (``server``, run as
``python3 -m hlsforge_uploader.prober``) and the uploader's side (``client``)."""
