"""The WebSocket side of ``ticketing.asgi``: origin check, route match and
authentication in one step, then the route's consumer.

Channels' usual stack (OriginValidator, CookieMiddleware, SessionMiddleware,
AuthMiddleware, URLRouter) copies the scope at every layer and keeps each
copy, a coroutine frame per layer, the cookie dict and the session for as
long as the socket is open. The waiting page keeps thousands of sockets
open for many minutes, so here a socket keeps one scope copy (with
``user`` and ``url_route``, as Channels sets them) and one frame.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.urls import URLPattern

from ticketing.ws_auth import handshake_user, origin_allowed

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def deny(receive: Receive, send: Send) -> None:
    """Refuse the handshake (uvicorn answers 403), as Channels' ``WebsocketDenier`` does."""
    await receive()
    await send({"type": "websocket.close"})


class WebSocketGate:
    """ASGI application for ``"websocket"`` connections, routed over Django ``path()`` entries."""

    def __init__(self, routes: list[URLPattern]) -> None:
        self.routes = routes

    def resolve(self, scope: Scope) -> tuple[Any, dict[str, Any]] | None:
        """The route's application and its keyword arguments, or None."""
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path:
            if not path.startswith(root_path):
                return None
            path = path[len(root_path) :]
        path = path.lstrip("/")
        for route in self.routes:
            match = route.pattern.match(path)
            if match:
                _, _, kwargs = match
                return route.callback, {**kwargs, **route.default_args}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            raise ValueError(f"WebSocketGate cannot serve a {scope['type']!r} connection")
        headers = scope.get("headers", [])
        route = self.resolve(scope)
        if route is None or not origin_allowed(headers):
            await deny(receive, send)
            return
        application, kwargs = route
        user = await handshake_user(headers)
        await application({**scope, "user": user, "url_route": {"args": (), "kwargs": kwargs}}, receive, send)
