"""The seat page hears of a new seat status version without polling:
``/ws/events/{id}/seats/``.

Each process (each event loop) watches an event for as long as one of its
sockets is open on it: every ``SEAT_PUSH_SECONDS`` it reads the shared
snapshot's version (``seat_status.snapshot_version_async``: a few small
fields while the snapshot is fresh, a rebuild by one process when it is
not) and, when it moved, sends ``{"type": "seats", "version": N}`` to every
local socket. The page then asks ``seats/status/?since=`` for the seats
that changed. One read per event per process per tick, whatever the number
of sockets; the rebuild stays single flight across processes. The queue's
hub (``queue_app.hub``) fans out the same way; this one needs no channel
layer, the snapshot in Redis is the message.

Any signed-in user may listen (a version number says nothing about anyone);
the status read it prompts applies the admission check.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref

from django.conf import settings

from core.ws_consumer import LeanWebsocketConsumer
from reservations import selectors
from reservations.seat_status import snapshot_version_async

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


def _frame(version: int) -> str:
    return json.dumps({"type": "seats", "version": version}, separators=(",", ":"))


class SeatWatch:
    """One event's sockets in this process, and the task that tells them of new versions."""

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        self.consumers: set[SeatConsumer] = set()
        self.version: int | None = None
        self.task = asyncio.ensure_future(self._watch())

    async def current(self) -> int:
        if self.version is None:
            self.version = await snapshot_version_async(event_id=self.event_id)
        return self.version

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(settings.SEAT_PUSH_SECONDS)
            try:
                version = await snapshot_version_async(event_id=self.event_id)
            except Exception:
                logger.exception("seat status of event %s not read; trying again", self.event_id)
                continue
            if version != self.version:
                self.version = version
                frame = _frame(version)
                for consumer in list(self.consumers):
                    await consumer.frame_send(frame)


class SeatPush:
    """Every ``SeatWatch`` of one event loop."""

    def __init__(self) -> None:
        self.watches: dict[int, SeatWatch] = {}

    def attach(self, event_id: int, consumer: SeatConsumer) -> SeatWatch:
        watch = self.watches.get(event_id)
        if watch is None or watch.task.done():
            consumers = watch.consumers if watch is not None else set()
            watch = self.watches[event_id] = SeatWatch(event_id)
            watch.consumers |= consumers
        watch.consumers.add(consumer)
        return watch

    def detach(self, event_id: int, consumer: SeatConsumer) -> None:
        watch = self.watches.get(event_id)
        if watch is None:
            return
        watch.consumers.discard(consumer)
        if not watch.consumers:
            del self.watches[event_id]
            watch.task.cancel()


_pushes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SeatPush] = weakref.WeakKeyDictionary()


def seat_push_get() -> SeatPush:
    loop = asyncio.get_running_loop()
    push = _pushes.get(loop)
    if push is None:
        push = _pushes[loop] = SeatPush()
    return push


class SeatConsumer(LeanWebsocketConsumer):
    """Sends the current version on connect, then every new one; answers
    pings (``LeanWebsocketConsumer.receive``)."""

    event_id: int
    attached = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.event_id = int(self.scope["url_route"]["kwargs"]["event_id"])
        try:
            await selectors.event_for_booking_async(event_id=self.event_id)
        except Exception:  # noqa: BLE001 - no such event (404) or the database away: either way no seats to watch
            await self.close(code=CLOSE_NOT_FOUND)
            return
        watch = seat_push_get().attach(self.event_id, self)
        self.attached = True
        await self.frame_send(_frame(await watch.current()))

    async def disconnect(self, code: int) -> None:
        if self.attached:
            self.attached = False
            seat_push_get().detach(self.event_id, self)

    async def frame_send(self, frame: str) -> None:
        try:
            await self.send(frame)
        except Exception:  # noqa: BLE001 - a socket closing mid-send must not stop the others
            return
