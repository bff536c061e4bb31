"""ASGI application for ``bench/ws_fanout.py``: the project's application
plus, as the baseline, the same queue consumer delivered the stock Channels
way (one channel-layer channel per socket, ``group_add``, a handler per
message per socket) at ``/ws/bench/stock/events/{id}/queue/``."""

from __future__ import annotations

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

from queue_app.broadcast import event_group  # noqa: E402
from queue_app.consumers import QueueConsumer  # noqa: E402
from queue_app.hub import QueueMessage  # noqa: E402
from queue_app.routing import websocket_urlpatterns  # noqa: E402
from ticketing.ws_auth import AllowedHostsOriginValidator, SessionOrTokenAuthMiddleware  # noqa: E402


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
        await self.frames_send(self.on_message(QueueMessage.parse(message["text"])))


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": AllowedHostsOriginValidator(
            SessionOrTokenAuthMiddleware(
                URLRouter(
                    [
                        *websocket_urlpatterns,
                        path("ws/bench/stock/events/<int:event_id>/queue/", StockQueueConsumer.as_asgi()),
                    ]
                )
            )
        ),
    }
)
