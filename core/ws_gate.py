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

from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import URLPattern

from core.metrics import websocket_connections

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = Iterable[tuple[bytes, bytes]]
UserLookup = Callable[[Headers], Awaitable[Any]]


def header_value(headers: Headers, name: bytes) -> bytes | None:
    """The last ``name`` header (ASGI header names are lower case), as Channels reads them."""
    found = None
    for key, value in headers:
        if key == name:
            found = value
    return found


class OriginOptionalValidator(OriginValidator):
    """Channels' origin matching, except that a handshake without ``Origin``
    is let through (the contract: non-browser clients send none). Browsers
    always send ``Origin`` on a WebSocket handshake, so a cross-site page
    still cannot ride a visitor's session cookie."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or super().valid_origin(parsed_origin)


def allowed_origin_hosts() -> list[str]:
    """``ALLOWED_HOSTS``, as Channels' ``AllowedHostsOriginValidator`` reads it."""
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return ["localhost", "127.0.0.1", "[::1]"]
    return list(settings.ALLOWED_HOSTS)


def origin_allowed(headers: Headers) -> bool:
    origin = header_value(headers, b"origin")
    parsed = urlparse(origin.decode("latin-1")) if origin is not None else None
    return OriginOptionalValidator(None, allowed_origin_hosts()).valid_origin(parsed)


async def deny(receive: Receive, send: Send) -> None:
    """Refuse the handshake (uvicorn answers 403), as Channels' ``WebsocketDenier`` does."""
    await receive()
    await send({"type": "websocket.close"})


class WebSocketGate:
    """ASGI application for ``"websocket"`` connections, routed over Django
    ``path()`` entries; each socket the consumer accepts counts in
    ``ticketing_websocket_connections`` until it ends."""

    def __init__(self, routes: list[URLPattern], *, user_lookup: UserLookup) -> None:
        """``user_lookup(headers)`` returns the connecting user (``AnonymousUser`` when none)."""
        self.routes = routes
        self.user_lookup = user_lookup

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
        user = await self.user_lookup(headers)
        accepted = False

        async def send_counted(message: dict[str, Any]) -> None:
            nonlocal accepted
            if not accepted and message["type"] == "websocket.accept":
                accepted = True
                websocket_connections.inc()
            await send(message)

        try:
            await application(
                {**scope, "user": user, "url_route": {"args": (), "kwargs": kwargs}}, receive, send_counted
            )
        finally:
            if accepted:
                websocket_connections.dec()
