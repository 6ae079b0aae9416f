"""TranscodeJobs in the uploader: the manifest an upload creates, the view clients get, and the
fan-out of the one watch to every WebSocket client. ``k8s`` alone talks to the API server."""
