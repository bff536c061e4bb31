"""A Channels WebSocket consumer for sockets with no channel-layer channel.

Channels' ``AsyncConsumer.__call__`` waits on the client and on the
consumer's channel through ``await_many_dispatch``: every message costs a
new Task around ``receive()`` and an ``asyncio.wait``, one Task stays
pending per open socket, and ``dispatch`` runs ``close_old_connections`` in
a worker thread before each handler. A consumer whose messages come from
elsewhere (see ``queue_app.hub``) has one source, the client: awaiting
``receive()`` in the connection's own task is enough.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import markcoroutinefunction
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer


class LeanWebsocketConsumer(AsyncWebsocketConsumer):
    """``AsyncWebsocketConsumer`` with the same handlers, run without a Task
    per message when ``channel_layer_alias`` names no channel layer; with a
    layer it is Channels' stock consumer."""

    channel_layer_alias = "none"

    @markcoroutinefunction  # it returns a coroutine: ASGI servers and asgiref must see a single callable
    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Coroutine[Any, Any, None]:
        """The coroutine that serves the socket (returned, not awaited here: one frame fewer per socket)."""
        if get_channel_layer(self.channel_layer_alias) is not None:
            return super().__call__(scope, receive, send)
        return self._serve(scope, receive, send)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                message = await receive()
                handler = getattr(self, get_handler_name(message), None)
                if handler is None:
                    raise ValueError(f"No handler for message type {message['type']}")
                await handler(message)
        except StopConsumer:
            pass

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Answer a ping (``{"type": "ping"}`` -> ``{"type": "pong"}``) and
        ignore anything else. A frame longer than any ping is dropped unread,
        and one nested past the recursion limit is dropped too: either used
        to kill the socket without a close code."""
        if text_data is None or len(text_data) > 1024:
            return
        try:
            message = json.loads(text_data)
        except (ValueError, RecursionError):
            return
        if isinstance(message, dict) and message.get("type") == "ping":
            await self.send('{"type":"pong"}')
