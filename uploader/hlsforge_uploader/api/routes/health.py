"""Probes: routes without a token (the kubelet calls them). ``/metrics`` is in ``metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hlsforge_uploader.api.deps import ClientsDep
from hlsforge_uploader.models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process serves requests."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(clients: ClientsDep) -> JSONResponse:
    """Ready once the job watch has its first list, the storage is usable (the volume is
    writable, or the bucket answers) and the prober accepts connections."""
    checks = {
        "watch": clients.broadcaster.synced.is_set(),
        "storage": clients.storage.ready(),
        "prober": clients.prober.ready(),
    }
    ok = all(checks.values())
    body = Health(status="ok" if ok else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
