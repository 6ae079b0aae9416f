"""HTTP and WebSocket surface of the uploader: dependencies and one router per resource."""
