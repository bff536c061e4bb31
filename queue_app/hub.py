"""Per-process fan-out of an event's queue messages to its open sockets.

Stock Channels gives every socket its own channel-layer channel: a group
message is queued, deserialised and dispatched once per socket (0.2-0.5 ms
of CPU each) and every socket costs a Redis SUBSCRIBE. Here each process
(each event loop) holds ONE channel-layer channel per event, in the event's
group on the channels_redis pub/sub layer. A round's message arrives once
per process, is decoded once (``queue_app.messages``), and every local
consumer derives its own frame from it with a little arithmetic: no Redis
call and no channel-layer hop per socket.

The hub also keeps the rule "one waiting-page socket per person per event"
(``socket_claim``): a newer socket of the same person closes the older one
(4409), in this process directly or, through the event's channel, in the
process that holds it.

It also watches for lost rounds: the beat runs a round every second, so an
event channel that heard nothing for ``SILENCE_SECONDS`` may have dropped
messages (Redis restarted, failed over). The listener then reads the
event's round counter and epoch once, and only the sockets that missed a
round read their own state again: one Redis read per process, not one per
socket, while the queue is merely quiet.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING

import redis
from channels.layers import get_channel_layer

from queue_app.broadcast import event_group, queue_socket_replaced_announce_async
from queue_app.messages import HubMessage, ReplacedMessage, message_decode
from queue_app.store import store_round_counters_async, store_socket_claim_async, store_socket_release_async

if TYPE_CHECKING:
    from queue_app.consumers import QueueConsumer

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
SUBSCRIBE_TIMEOUT_SECONDS = 10.0
#: An event channel that heard nothing this long checks whether it missed a round.
SILENCE_SECONDS = 5.0
#: A failed check (Redis down) is tried again this soon.
SILENCE_RETRY_SECONDS = 1.0
SILENCE_CHECK_TIMEOUT_SECONDS = 5.0


class EventListener:
    """The sockets of one event in this process, and the one channel that feeds them."""

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        self.consumers: set[QueueConsumer] = set()
        self.by_connection: dict[str, QueueConsumer] = {}
        self.ready = asyncio.Event()
        self.last_heard = time.monotonic()
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

    async def deliver(self, message: HubMessage) -> None:
        self.last_heard = time.monotonic()
        if isinstance(message, ReplacedMessage):
            await self.replace(message.connection)
            return
        for consumer in list(self.consumers):
            await consumer.frames_send(consumer.on_message(message))

    async def replace(self, connection: str) -> bool:
        """Close this process's socket ``connection``, if it has it."""
        consumer = self.by_connection.get(connection)
        if consumer is None:
            return False
        await consumer.replaced()
        return True

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            if now - self.last_heard >= SILENCE_SECONDS:
                self.last_heard = now
                await self.silence_check()
            for consumer in list(self.consumers):
                await consumer.frames_send(consumer.on_tick(now))

    async def silence_check(self) -> None:
        """After a silence, one read of the round counters; each socket
        decides from them whether it missed something."""
        try:
            counters = await asyncio.wait_for(
                store_round_counters_async(event_id=self.event_id), SILENCE_CHECK_TIMEOUT_SECONDS
            )
        except (redis.RedisError, OSError, TimeoutError):
            logger.warning("event %s: round counters not read after a silence, retrying", self.event_id)
            self.last_heard = time.monotonic() - SILENCE_SECONDS + SILENCE_RETRY_SECONDS
            return
        for consumer in list(self.consumers):
            consumer.on_silence(counters)

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
        listener.by_connection[consumer.connection] = consumer
        await asyncio.wait_for(listener.ready.wait(), SUBSCRIBE_TIMEOUT_SECONDS)

    async def socket_claim(self, event_id: int, consumer: QueueConsumer) -> None:
        """Make ``consumer`` its person's one socket on the event, closing the
        one it replaces: here if this process has it, else wherever it is."""
        user_id, connection = consumer.user_id, consumer.connection
        old = await store_socket_claim_async(event_id=event_id, user_id=user_id, connection=connection)
        if old is None or old == connection:
            return
        listener = self.listeners.get(event_id)
        if listener is None or not await listener.replace(old):
            await queue_socket_replaced_announce_async(event_id=event_id, connection=old)

    async def socket_release(self, event_id: int, consumer: QueueConsumer) -> None:
        await store_socket_release_async(event_id=event_id, user_id=consumer.user_id, connection=consumer.connection)

    def detach(self, event_id: int, consumer: QueueConsumer) -> None:
        listener = self.listeners.get(event_id)
        if listener is None:
            return
        listener.consumers.discard(consumer)
        if listener.by_connection.get(consumer.connection) is consumer:
            del listener.by_connection[consumer.connection]
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
