"""The hlsforge uploader: streaming uploads, job status, live events, HLS delivery, dashboard."""
