"""The app factory: routers, error mapping, CORS, and a lifespan that opens the shared clients
(one Kubernetes API client, one watch, one storage backend) and closes them on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from hlsforge_uploader import errors
from hlsforge_uploader.api import openapi
from hlsforge_uploader.api.metrics_server import include_metrics, serving_metrics
from hlsforge_uploader.api.routes import (
    dashboard,
    direct_uploads,
    docs,
    events,
    health,
    hls,
    jobs,
    uploads,
)
from hlsforge_uploader.auth.limiter import QuotaBook
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.jobs.broadcast import Broadcaster
from hlsforge_uploader.k8s import JobStore, JobWatch, api_client
from hlsforge_uploader.metrics import Metrics
from hlsforge_uploader.prober.client import open_prober
from hlsforge_uploader.settings import UploaderSettings, get_settings
from hlsforge_uploader.storage.backend import open_backend
from hlsforge_uploader.uploads import orphans
from hlsforge_uploader.uploads.capacity import UploadSlots


def create_app(settings: UploaderSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = open_backend(settings, os.environ)
        metrics = Metrics()
        broadcaster = Broadcaster(settings.event_history)
        broadcaster.bind(asyncio.get_running_loop())
        api = api_client()
        store = JobStore(api, settings.namespace)

        quotas = QuotaBook(settings.quotas, lambda: broadcaster.history.objects.values())

        def on_change(kind: str, obj: dict[str, object]) -> None:
            metrics.watch_events.labels(kind).inc()
            quotas.record(kind, obj)
            broadcaster.from_thread_change(kind, obj)

        watch = JobWatch(
            store, broadcaster.from_thread_snapshot, on_change, settings.watch_timeout_seconds
        )
        app.state.clients = Clients(
            store=store,
            storage=backend.storage,
            broadcaster=broadcaster,
            metrics=metrics,
            direct=backend.direct,
            prober=open_prober(settings.prober_socket, settings.prober_limits),
            ownership=backend.ownership,
            quotas=quotas,
            upload_slots=UploadSlots(
                settings.uploads_in_flight_cap(), settings.quotas.busy_retry_seconds
            ),
        )
        app.state.inflight_keys = set()
        watch.start()
        sweeper = asyncio.create_task(
            orphans.run(
                app.state.clients,
                settings.orphan_grace_seconds,
                settings.orphan_sweep_interval_seconds,
            )
        )
        try:
            async with contextlib.AsyncExitStack() as stack:
                if settings.metrics_port is not None:
                    app.state.metrics_port = await stack.enter_async_context(
                        serving_metrics(settings, app.state.clients, settings.metrics_port)
                    )
                yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            watch.stop()
            api.close()  # type: ignore[no-untyped-call]

    app = FastAPI(
        title="hlsforge uploader",
        version="v1",
        summary="Upload videos, follow their TranscodeJobs live, play the HLS they produce.",
        lifespan=lifespan,
        # HLSFORGE_DOCS: public (FastAPI's own routes), token (routes.docs) or off.
        docs_url="/docs" if settings.docs == "public" else None,
        redoc_url="/redoc" if settings.docs == "public" else None,
        openapi_url="/openapi.json" if settings.docs == "public" else None,
    )
    app.dependency_overrides[get_settings] = lambda: settings
    errors.install(app)
    openapi.install(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Range"],
            expose_headers=["Content-Range", "Content-Length", "Location"],
            max_age=600,
        )
    for module in (health, direct_uploads, uploads, jobs, hls, events, dashboard):
        app.include_router(module.router)
    if settings.docs == "token":
        app.include_router(docs.router)
    if settings.metrics_port is None:  # else on its own port, opened by the lifespan
        include_metrics(app, settings)
    settings.static_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/ui/static", StaticFiles(directory=settings.static_dir), name="static")
    return app
