"""Live TranscodeJob changes over WebSocket, all served from the process's one watch.

Messages are JSON: first ``{"type": "snapshot", "resourceVersion", "jobs": [...]}`` (or, when
the client reconnects with ``?resourceVersion=<last seen>`` that is still in the history, the
changes it missed), then ``{"type": "ADDED"|"MODIFIED"|"DELETED", "resourceVersion", "job"}``.
Auth: ``Authorization: Bearer`` or the subprotocols ``hlsforge.v1, bearer.<token>``; a
caller gets the changes of its own jobs only (an admin: every job), and another token's job
is closed with 4404 as a job that does not exist.
A bad token is refused before the handshake (HTTP 403). Close codes: 4404 no such job,
1013 too slow or not ready (reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from hlsforge_uploader.api.deps import (
    WS_PROTOCOL,
    SettingsDep,
    WsClientsDep,
    caller_of,
    urls_for,
    ws_token,
)
from hlsforge_uploader.api.helpers import JOB_ID_RE
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import Unauthorized
from hlsforge_uploader.jobs.broadcast import Change
from hlsforge_uploader.jobs.view import Urls, view
from hlsforge_uploader.settings import UploaderSettings

router = APIRouter(tags=["events"])
SYNC_TIMEOUT = 10.0


def _change_message(change: Change, urls: Urls) -> dict[str, Any]:
    assert change.obj is not None
    return {
        "type": change.type,
        "resourceVersion": change.resource_version,
        "job": view(change.obj, urls).to_wire(),
    }


async def _accept(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in offered else None)


async def _serve(
    websocket: WebSocket,
    clients: Clients,
    settings: UploaderSettings,
    name: str | None,
    resume: str | None,
) -> None:
    try:
        caller = caller_of(ws_token(websocket), settings)
    except Unauthorized:
        await websocket.close(code=4401, reason="a valid bearer token is required")
        return
    broadcaster = clients.broadcaster
    try:
        await asyncio.wait_for(broadcaster.synced.wait(), SYNC_TIMEOUT)
    except TimeoutError:
        await websocket.close(code=1013, reason="the job watch is not ready")
        return
    if name is not None:
        found = broadcaster.history.objects.get(name)
        if found is None and JOB_ID_RE.match(name):
            found = await to_thread.run_sync(clients.store.get, name)
        if found is None or not caller.owns(found):  # another token's job: as if none
            # Accepted first, so the client sees the code (a close before accept is a 403).
            await _accept(websocket)
            await websocket.close(code=4404, reason=f"no job {name!r}")
            return
    await _accept(websocket)
    base = str(websocket.base_url).replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    urls = urls_for(base, settings)
    sub, missed = broadcaster.subscribe(name, resume, caller.owns)
    clients.metrics.websocket_clients.inc()
    receiver: asyncio.Task[Any] = asyncio.create_task(websocket.receive())
    try:
        if missed is None:
            jobs = broadcaster.history.jobs(name)
            await websocket.send_json(
                {
                    "type": "snapshot",
                    "resourceVersion": broadcaster.history.last_rv,
                    "jobs": [view(obj, urls).to_wire() for obj in jobs if caller.owns(obj)],
                }
            )
        else:
            for change in missed:
                await websocket.send_json(_change_message(change, urls))
        while True:
            getter = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                if receiver.result().get("type") == "websocket.disconnect":
                    return
                receiver = asyncio.create_task(websocket.receive())  # client chatter: ignored
                continue
            item = getter.result()
            if item is None:
                await websocket.close(code=1013, reason="too slow; reconnect to resume")
                return
            await websocket.send_json(_change_message(item, urls))
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
        broadcaster.unsubscribe(sub)
        clients.metrics.websocket_clients.dec()


ResumeQuery = Annotated[
    str | None, Query(alias="resourceVersion", max_length=64, description="Last version seen")
]


@router.websocket("/v1/events")
async def all_events(
    websocket: WebSocket, clients: WsClientsDep, settings: SettingsDep, resume: ResumeQuery = None
) -> None:
    """Every job's changes (the dashboard's live table)."""
    await _serve(websocket, clients, settings, None, resume)


@router.websocket("/v1/jobs/{job_id}/events")
async def job_events(
    websocket: WebSocket,
    job_id: str,
    clients: WsClientsDep,
    settings: SettingsDep,
    resume: ResumeQuery = None,
) -> None:
    """One job's changes."""
    await _serve(websocket, clients, settings, job_id, resume)
