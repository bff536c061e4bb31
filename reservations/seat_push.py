"""The seat page hears of seat changes without polling:
``/ws/events/{id}/seats/``.

Each process (each event loop) watches an event for as long as one of its
sockets is open on it: every ``SEAT_PUSH_SECONDS`` it asks the shared
snapshot what changed since the version it last sent
(``seat_status.status_answer_async``: a few small fields while nothing
changed) and, when the version moved, sends every local socket one frame:
``{"type": "seats", "version": N, "since": M, "changes": [[seat_id,
status], ...]}``, the same change list ``seats/status/?since=M`` answers,
or ``{"type": "seats", "version": N}`` alone when the full form is shorter.
A page at version M applies the changes; any other page asks
``?since=`` itself. One read per event per process per tick, and one frame
built for every socket, whatever their number: a viewer brought up to date
costs one socket write. The rebuild stays single flight across processes.

Listening needs what the status read needs (a signed-in user admitted to
the event, on an event with a queue: the frames carry seat statuses), and
a socket is closed (4403) once its admission lapses: each watch checks its
sockets' admissions again every ``ADMISSION_RECHECK_SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from typing import Any

from django.conf import settings

from core.errors import ApplicationError
from core.ws_consumer import LeanWebsocketConsumer
from reservations import selectors
from reservations.gates import admission_check_async
from reservations.models import Event
from reservations.seat_status import snapshot_version_async, status_answer_async

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_ADMITTED = 4403
CLOSE_NOT_FOUND = 4404

#: How often a watch checks again that its sockets' people are still admitted.
ADMISSION_RECHECK_SECONDS = 15.0


def _frame(version: int, since: int | None = None, changes: list[list[Any]] | None = None) -> str:
    message: dict[str, Any] = {"type": "seats", "version": version}
    if changes is not None:
        message.update(since=since, changes=changes)
    return json.dumps(message, separators=(",", ":"))


async def _news(event_id: int, since: int) -> tuple[int, str] | None:
    """(the new version, its frame) when one is out after ``since``, else None."""
    answer = await status_answer_async(event_id=event_id, since=since)
    if answer.body is None:
        return None
    version = answer.body["version"]
    return version, _frame(version, since, answer.body.get("changes"))


class SeatWatch:
    """One event's sockets in this process, and the task that tells them of new versions."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.consumers: set[SeatConsumer] = set()
        self.version: int | None = None
        self.task = asyncio.ensure_future(self._watch())

    async def current(self) -> int:
        if self.version is None:
            self.version = await snapshot_version_async(event_id=self.event.id)
        return self.version

    async def _watch(self) -> None:
        rechecked = time.monotonic()
        while True:
            await asyncio.sleep(settings.SEAT_PUSH_SECONDS)
            try:
                news = await _news(self.event.id, await self.current())
            except Exception:
                logger.exception("seat status of event %s not read; trying again", self.event.id)
                continue
            if news is not None:
                self.version, frame = news
                for consumer in list(self.consumers):
                    await consumer.frame_send(frame)
            if self.event.queue_enabled and time.monotonic() - rechecked >= ADMISSION_RECHECK_SECONDS:
                rechecked = time.monotonic()
                await asyncio.gather(*(consumer.admission_recheck() for consumer in list(self.consumers)))


class SeatPush:
    """Every ``SeatWatch`` of one event loop."""

    def __init__(self) -> None:
        self.watches: dict[int, SeatWatch] = {}

    def attach(self, event: Event, consumer: SeatConsumer) -> SeatWatch:
        watch = self.watches.get(event.id)
        if watch is None or watch.task.done():
            consumers = watch.consumers if watch is not None else set()
            watch = self.watches[event.id] = SeatWatch(event)
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
    """Sends the current version on connect, then every new one with its
    changes; answers pings (``LeanWebsocketConsumer.receive``)."""

    event: Event
    user_id: int
    attached = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        event_id = int(self.scope["url_route"]["kwargs"]["event_id"])
        try:
            self.event = await selectors.event_for_booking_async(event_id=event_id)
        except Exception:  # noqa: BLE001 - no such event (404) or the database away: either way no seats to watch
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user_id = user.id
        if not await self.admission_recheck():
            return
        watch = seat_push_get().attach(self.event, self)
        self.attached = True
        await self.frame_send(_frame(await watch.current()))

    async def admission_recheck(self) -> bool:
        """The status read's admission check (``reservations.gates``); closes the socket (4403) when it fails."""
        try:
            await admission_check_async(event=self.event, user_id=self.user_id)
        except ApplicationError:
            await self.close(code=CLOSE_NOT_ADMITTED)
            return False
        except Exception:  # noqa: BLE001 - Redis away: keep the socket, the next check decides
            logger.warning("admission of user %s to event %s not checked", self.user_id, self.event.id)
        return True

    async def disconnect(self, code: int) -> None:
        if self.attached:
            self.attached = False
            seat_push_get().detach(self.event.id, self)

    async def frame_send(self, frame: str) -> None:
        try:
            await self.send(frame)
        except Exception:  # noqa: BLE001 - a socket closing mid-send must not stop the others
            return
