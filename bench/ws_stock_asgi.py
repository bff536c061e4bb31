"""ASGI application for ``bench/ws_fanout.py``: the project's application
plus, as the baseline, the same queue consumer served the stock Channels
way at ``/ws/bench/stock/events/{id}/queue/``: one channel-layer channel per
socket (``group_add``, a handler per message per socket), Channels'
dispatch loop, and Channels' middleware stack (origin validator, cookie,
session and auth middleware, URL router), with the token header accepted
as the project's stack accepted it before ``core.ws_gate``."""

from __future__ import annotations

import os
from collections.abc import Awaitable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
django.setup()

from channels.auth import AuthMiddleware  # noqa: E402
from channels.db import database_sync_to_async  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from channels.sessions import CookieMiddleware, SessionMiddleware  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

from accounts.ws_auth import token_from_headers, token_user  # noqa: E402
from core.ws_gate import OriginOptionalValidator, allowed_origin_hosts  # noqa: E402
from queue_app.broadcast import event_group  # noqa: E402
from queue_app.consumers import QueueConsumer  # noqa: E402
from queue_app.messages import message_decode  # noqa: E402
from ticketing.asgi import application as project_application  # noqa: E402


class TokenHeaderAuthMiddleware(AuthMiddleware):
    """Channels' session auth, or the token's user when the header is present
    (looked up in the socket's own context, as the project's stack did)."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        token = token_from_headers(scope.get("headers", []))
        if token is None:
            await super().resolve_scope(scope)
        else:
            scope["user"]._wrapped = await database_sync_to_async(token_user)(token)


def stock_stack(inner: Any) -> OriginValidator:
    return OriginOptionalValidator(
        CookieMiddleware(SessionMiddleware(TokenHeaderAuthMiddleware(inner))), allowed_origin_hosts()
    )


class StockQueueConsumer(QueueConsumer):
    """Same frames, stock delivery: every socket subscribes its own channel
    and deserialises and handles every group message itself."""

    channel_layer_alias = "default"

    async def subscribe(self) -> None:
        await self.channel_layer.group_add(event_group(self.event_id), self.channel_name)
        self.attached = True

    async def unsubscribe(self) -> None:
        await self.channel_layer.group_discard(event_group(self.event_id), self.channel_name)

    async def queue_message(self, message: dict[str, Any]) -> None:
        await self.frames_send(self.on_message(message_decode(message["text"])))


stock_websocket = stock_stack(
    URLRouter([path("ws/bench/stock/events/<int:event_id>/queue/", StockQueueConsumer.as_asgi())])
)
project_websocket = project_application.application_mapping["websocket"]


def websocket(scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
    """Picks the stack by path; returns its coroutine rather than awaiting it,
    so neither path keeps an extra frame per socket."""
    stack = stock_websocket if scope["path"].startswith("/ws/bench/stock/") else project_websocket
    return stack(scope, receive, send)


application = ProtocolTypeRouter({"http": get_asgi_application(), "websocket": websocket})
