"""Per-process fan-out of an event's queue messages to its open sockets.

Stock Channels gives every socket its own channel-layer channel: a group
message is queued, deserialised and dispatched once per socket (0.2-0.5 ms
of CPU each) and every socket costs a Redis SUBSCRIBE. Here each process
(each event loop) holds ONE channel-layer channel per event, in the event's
group on the channels_redis pub/sub layer. A round's message arrives once
per process, is decoded once (``queue_app.messages``), and every local
consumer derives its own frame from it with a little arithmetic: no Redis
call and no channel-layer hop per socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING

from channels.layers import get_channel_layer

from queue_app.broadcast import event_group
from queue_app.messages import QueueMessage, message_decode

if TYPE_CHECKING:
    from queue_app.consumers import QueueConsumer

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
SUBSCRIBE_TIMEOUT_SECONDS = 10.0


class EventListener:
    """The sockets of one event in this process, and the one channel that feeds them."""

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        self.consumers: set[QueueConsumer] = set()
        self.ready = asyncio.Event()
        self.tasks = [
            asyncio.ensure_future(self._listen()),
            asyncio.ensure_future(self._tick()),
        ]

    async def _listen(self) -> None:
        layer = get_channel_layer()
        group = event_group(self.event_id)
        channel = await layer.new_channel(prefix="queue-hub.")
        await layer.group_add(group, channel)
        self.ready.set()
        try:
            while True:
                message = await layer.receive(channel)
                try:
                    await self.deliver(message_decode(message["text"]))
                except Exception:
                    logger.exception("queue message for event %s not delivered", self.event_id)
        finally:
            await layer.group_discard(group, channel)

    async def deliver(self, message: QueueMessage) -> None:
        for consumer in list(self.consumers):
            await consumer.frames_send(consumer.on_message(message))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            for consumer in list(self.consumers):
                await consumer.frames_send(consumer.on_tick(now))

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()


class QueueHub:
    """All event listeners of one event loop (one per ASGI worker process)."""

    def __init__(self) -> None:
        self.listeners: dict[int, EventListener] = {}

    async def attach(self, event_id: int, consumer: QueueConsumer) -> None:
        """Register ``consumer``; returns once the event's subscription is live,
        so messages published after this call reach it."""
        listener = self.listeners.get(event_id)
        if listener is None or listener.tasks[0].done():  # none yet, or its subscription died
            if listener is not None:
                listener.close()
            consumers = listener.consumers if listener is not None else set()
            listener = self.listeners[event_id] = EventListener(event_id)
            listener.consumers |= consumers
        listener.consumers.add(consumer)
        await asyncio.wait_for(listener.ready.wait(), SUBSCRIBE_TIMEOUT_SECONDS)

    def detach(self, event_id: int, consumer: QueueConsumer) -> None:
        listener = self.listeners.get(event_id)
        if listener is None:
            return
        listener.consumers.discard(consumer)
        if not listener.consumers:
            del self.listeners[event_id]
            listener.close()

    def consumer_count(self) -> int:
        return sum(len(listener.consumers) for listener in self.listeners.values())


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, QueueHub] = weakref.WeakKeyDictionary()


def hub_get() -> QueueHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = QueueHub()
    return hub
