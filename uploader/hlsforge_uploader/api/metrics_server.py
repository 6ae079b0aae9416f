"""``/metrics`` on a port of its own (``HLSFORGE_METRICS_PORT``): a second, small uvicorn
server on the app's event loop, opened and closed by the app's lifespan, so it lives and stops
with the app. Its socket is bound before the app reports ready (a port in use fails start-up),
and it never takes the process's signals (the main server handles them, and its shutdown
closes this one through the lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI

from hlsforge_uploader import errors
from hlsforge_uploader.api.deps import require_caller
from hlsforge_uploader.api.routes import metrics
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.settings import UploaderSettings, get_settings


def include_metrics(app: FastAPI, settings: UploaderSettings) -> None:
    """Add ``/metrics`` to ``app``, behind a token when ``metrics_auth`` says so."""
    guard: list[Any] = [Depends(require_caller)] if settings.metrics_auth else []
    app.include_router(metrics.router, dependencies=guard)


def metrics_app(settings: UploaderSettings, clients: Clients) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.dependency_overrides[get_settings] = lambda: settings
    errors.install(app)
    app.state.clients = clients
    include_metrics(app, settings)
    return app


class _SideServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the main server owns SIGINT/SIGTERM


@contextlib.asynccontextmanager
async def serving_metrics(
    settings: UploaderSettings, clients: Clients, port: int
) -> AsyncIterator[int]:
    """Serve ``/metrics`` on ``settings.host``:``port`` for the body of the ``with``; yields
    the bound port (``port`` 0 picks a free one)."""
    sock = socket.create_server((settings.host, port))
    config = uvicorn.Config(
        metrics_app(settings, clients),
        lifespan="off",
        access_log=False,
        log_level=settings.log_level,
        ws="none",
    )
    server = _SideServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            task.result()  # raise its failure
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
