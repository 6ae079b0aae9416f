"""``GET /metrics``: Prometheus' text format. Served on the API port, or alone on
``HLSFORGE_METRICS_PORT`` (``api.surface``); behind a bearer token when
``HLSFORGE_METRICS_AUTH`` is set (the dependency is added where the router is included)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hlsforge_uploader.api.deps import ClientsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(clients: ClientsDep) -> Response:
    return Response(generate_latest(clients.metrics.registry), media_type=CONTENT_TYPE_LATEST)
