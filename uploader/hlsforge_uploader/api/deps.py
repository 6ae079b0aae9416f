"""Dependencies: settings, clients and auth, injected with ``Depends`` so tests override them.

The shared clients (``clients.Clients``: job store, storage, broadcaster, metrics) are created
once by the app's lifespan and kept on ``app.state``; these functions hand them to routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hlsforge_uploader.auth.callers import Caller, resolve
from hlsforge_uploader.clients import Clients
from hlsforge_uploader.errors import Unauthorized
from hlsforge_uploader.jobs.view import Urls
from hlsforge_uploader.settings import UploaderSettings, get_settings

WS_PROTOCOL = "hlsforge.v1"
"""Browsers cannot set headers on a WebSocket: the token travels as a second subprotocol,
``bearer.<token>``, next to this one, which the server echoes back."""


def get_clients(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


def get_ws_clients(websocket: WebSocket) -> Clients:
    clients: Clients = websocket.app.state.clients
    return clients


SettingsDep = Annotated[UploaderSettings, Depends(get_settings)]
ClientsDep = Annotated[Clients, Depends(get_clients)]
WsClientsDep = Annotated[Clients, Depends(get_ws_clients)]

_bearer = HTTPBearer(
    auto_error=False, description="A named token (HLSFORGE_TOKENS / token file / token dir)"
)


def caller_of(presented: str | None, settings: UploaderSettings) -> Caller:
    """The caller whose token is ``presented`` (``auth.callers.resolve``), or 401."""
    found = resolve(presented, settings.token_entries(), settings.admins)
    if found is None:
        raise Unauthorized("a valid bearer token is required")
    return found


def require_caller(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return caller_of(credentials.credentials if credentials else None, settings)


def ws_token(websocket: WebSocket) -> str | None:
    """The token of a WebSocket: ``Authorization: Bearer`` or the ``bearer.<token>`` protocol."""
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    for proto in websocket.scope.get("subprotocols") or []:
        if proto.startswith("bearer."):
            return str(proto[len("bearer.") :])
    return None


CallerDep = Annotated[Caller, Depends(require_caller)]
"""The caller of a request: 401 without a valid token."""


def urls_for(request_base: str, settings: UploaderSettings) -> Urls:
    return Urls((settings.public_url or request_base).rstrip("/"))


def get_urls(request: Request, settings: SettingsDep) -> Urls:
    return urls_for(str(request.base_url), settings)


UrlsDep = Annotated[Urls, Depends(get_urls)]
