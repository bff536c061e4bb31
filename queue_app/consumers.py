"""The waiting page's WebSocket, ``/ws/events/{id}/queue/``.

A consumer reads its own state once on connect (rank, join sequence number
and the round counter, atomically), then follows the event's round messages
from the process's hub: its rank drops by the number admitted plus the
departures ahead of it. It asks Redis again only when it missed a round
(or was not in the queue yet), never once per round: after a silence the
hub reads the event's round counters once and a socket reads its own
state only if they show it missed a round.

In an event's pre-queue it sends ``pre_queue`` frames (the entrants, from
the beat's message every second); at the opening, and when the draw has
placed every entry, it reads its place once and follows the rounds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

import redis

from core.ws_consumer import LeanWebsocketConsumer
from queue_app.hub import hub_get
from queue_app.messages import DrawnMessage, PrequeueMessage, QueueMessage, RoundMessage
from queue_app.selectors import event_sale_snapshot_async
from queue_app.services import (
    queue_eta_seconds,
    queue_likely_sold_out,
    queue_state_follow_async,
    seat_page_path,
    timestamp_iso,
)
from queue_app.store import RoundCounters, StoredState
from reservations.models import Event

POSITION_EVERY_SECONDS = 5.0
NOT_IN_QUEUE_RECHECK_SECONDS = 2.0
RESYNC_TIMEOUT_SECONDS = 5.0
RESYNC_RETRY_SECONDS = 1.0
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
#: A newer waiting-page socket of the same person on the same event took over.
CLOSE_REPLACED = 4409

_STATUS_FRAMES = {
    Event.PublicStatus.PAUSED: "paused",
    Event.PublicStatus.SOLD_OUT: "sold_out",
    Event.PublicStatus.CLOSED: "closed",
}
#: A sale back on after these says ``resumed``.
_REOPENED_FROM = (Event.PublicStatus.PAUSED, Event.PublicStatus.SOLD_OUT)

logger = logging.getLogger(__name__)

_resyncs: set[asyncio.Task[None]] = set()


def _frame(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


class QueueConsumer(LeanWebsocketConsumer):
    """One waiting page. Holds only its own counters: messages come from the
    process's hub, not from a channel-layer channel of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every attribute set here, in one order: instances then share one
        # key table and each keeps a compact array of values.
        self.event_id = 0
        self.user_id = 0
        self.connection = uuid.uuid4().hex
        self.fallback_rate = 1.0
        self.attached = False
        self.claimed = False
        self.state = "new"
        self.status: str | None = None
        self.pending: list[QueueMessage] = []
        self.syncing = False
        self.last_sync = 0.0
        self.retry_at: float | None = None
        self.last_position: int | None = None
        self.last_sent = 0.0
        self.round = 0
        self.epoch: str | None = None
        self.known_leaves = 0
        self.rate: float | None = None
        self.seats_left: int | None = None
        self.waiting_total = 0
        self.seq = 0
        self.rank = 0
        self.opens_at: float | None = None  # the sale's opening, on an event with a pre-queue
        self.entry: str | None = None
        self.last_entrants: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.event_id = int(self.scope["url_route"]["kwargs"]["event_id"])
        self.user_id = user.id
        snap = await event_sale_snapshot_async(event_id=self.event_id)
        await self.accept()
        if snap is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not snap.queue_enabled:
            await self.send(_frame("admitted", admitted_until=None, next=seat_page_path(self.event_id)))
            return
        self.fallback_rate = snap.fallback_rate
        self.status = snap.public_status()
        self.opens_at = snap.prequeue.opens if snap.prequeue is not None else None
        await self.subscribe()
        try:
            await hub_get().socket_claim(self.event_id, self)  # one socket per person per event: the older one closes
            self.claimed = True
        except redis.RedisError:  # the page still works; the rule waits for Redis
            logger.warning("socket claim of user %s on event %s not made", self.user_id, self.event_id)
        await self.resync()

    async def subscribe(self) -> None:
        """Listen to the event's messages (override point for the benchmark's stock baseline)."""
        await hub_get().attach(self.event_id, self)
        self.attached = True

    async def unsubscribe(self) -> None:
        hub_get().detach(self.event_id, self)

    async def disconnect(self, code: int) -> None:
        if self.attached:
            self.attached = False
            await self.unsubscribe()
        if self.claimed:
            self.claimed = False
            try:
                await hub_get().socket_release(self.event_id, self)
            except redis.RedisError:
                logger.warning("socket claim of user %s on event %s not released", self.user_id, self.event_id)

    async def replaced(self) -> None:
        """A newer socket of this person took over: close with 4409 (the page says so and stays quiet)."""
        await self.close(code=CLOSE_REPLACED)

    async def frames_send(self, frames: list[str]) -> None:
        for frame in frames:
            try:
                await self.send(frame)
            except Exception:  # noqa: BLE001 - a socket closing mid-send must not stop the others
                return

    # -- state --------------------------------------------------------------

    async def resync(self) -> None:
        """Read the user's state (through the queue's services, as the HTTP
        state read does), then apply what arrived meanwhile."""
        if self.syncing:
            return
        self.syncing = True
        try:
            followed = await asyncio.wait_for(
                queue_state_follow_async(event_id=self.event_id, user_id=self.user_id), RESYNC_TIMEOUT_SECONDS
            )
        except (redis.RedisError, OSError, TimeoutError):
            if self.state == "new":
                raise
            # Redis is restarting or failing over: try again at the next tick, not after a whole silence.
            logger.warning("waiting page of user %s at event %s: resync failed, retrying", self.user_id, self.event_id)
            self.retry_at = time.monotonic() + RESYNC_RETRY_SECONDS
            return
        finally:
            self.syncing = False
        self.retry_at = None
        self.last_sync = time.monotonic()
        if self.state == "new":
            self.status = followed.sale_status
            frames = []
        else:
            frames = self.status_frames(followed.sale_status)
        frames += self.apply_state(followed.stored)
        pending, self.pending = self.pending, []
        for message in pending:
            frames += self.on_message(message)
        await self.frames_send(frames)

    def resync_soon(self) -> None:
        task = asyncio.ensure_future(self.resync())
        _resyncs.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_resyncs.discard)

    def apply_state(self, stored: StoredState) -> list[str]:
        """Take the state read from Redis; frames only for what is new to the socket."""
        first = self.state == "new"
        previous = self.state
        frames = self.status_frames(self.status, initial=True) if first else []
        self.round = stored.round
        self.epoch = stored.epoch
        self.known_leaves = stored.leaves
        self.rate = stored.rate
        self.seats_left = stored.seats_left
        self.waiting_total = stored.waiting_total
        self.entry = stored.entry
        self.state = stored.state
        if stored.state == "pre_queue":
            frames += self.prequeue_frames(force=first or previous != "pre_queue")
        elif stored.state == "waiting":
            self.seq = stored.seq
            self.rank = stored.rank
            frames += self.position_frames(force=first or previous != "waiting")
        elif stored.state == "admitted" and previous != "admitted":
            frames.append(self.admitted_frame(stored.admitted_until))
        elif stored.state == "expired" and previous != "expired":
            frames.append(_frame("expired"))
        elif stored.state == "not_in_queue" and previous in ("waiting", "admitted", "pre_queue"):
            # The entry is gone without a departure or an admission: the queue's
            # data was lost (Redis restarted empty, a failover). The page offers to join again.
            frames.append(_frame("not_in_queue"))
        return frames

    def admitted_frame(self, admitted_until: float | str | None) -> str:
        if isinstance(admitted_until, float):
            admitted_until = timestamp_iso(admitted_until)
        return _frame("admitted", admitted_until=admitted_until, next=seat_page_path(self.event_id))

    def status_frames(self, status: str | None, *, initial: bool = False) -> list[str]:
        if status is None or (status == self.status and not initial):
            return []
        previous, self.status = self.status, status
        if status in _STATUS_FRAMES:
            return [_frame(_STATUS_FRAMES[status])]
        if status == Event.PublicStatus.ON_SALE and previous in _REOPENED_FROM and not initial:
            return [_frame("resumed")]  # paused and resumed, or sold out and seats came back
        return []

    def prequeue_frames(self, *, force: bool = False) -> list[str]:
        """A ``pre_queue`` frame when the entrants changed, or at least every 5 s."""
        now = time.monotonic()
        if not force and self.waiting_total == self.last_entrants and now - self.last_sent < POSITION_EVERY_SECONDS:
            return []
        self.last_entrants, self.last_sent = self.waiting_total, now
        return [
            _frame(
                "pre_queue",
                opens_at=timestamp_iso(self.opens_at),
                waiting_total=self.waiting_total,
                entry=self.entry,
            )
        ]

    def position_frames(self, *, force: bool = False) -> list[str]:
        """A ``position`` frame when the position fell, or at least every 5 s.
        The position shown never goes up."""
        position = self.rank + 1
        if self.last_position is not None:
            position = min(position, self.last_position)
        now = time.monotonic()
        if not force and position == self.last_position and now - self.last_sent < POSITION_EVERY_SECONDS:
            return []
        self.last_position, self.last_sent = position, now
        return [
            _frame(
                "position",
                position=position,
                waiting_total=self.waiting_total,
                eta_seconds=queue_eta_seconds(position=position, rate=self.rate, fallback_rate=self.fallback_rate),
                likely_sold_out=queue_likely_sold_out(position=position, seats_left=self.seats_left),
            )
        ]

    def on_message(self, message: QueueMessage) -> list[str]:
        """Frames for this socket from one broadcast (pure arithmetic, no I/O)."""
        if self.syncing or self.state == "new":
            self.pending.append(message)
            return []
        if isinstance(message, PrequeueMessage):
            if self.state == "pre_queue":
                self.waiting_total = message.waiting_total
                return self.prequeue_frames()
            return []
        if isinstance(message, DrawnMessage):
            if self.state == "pre_queue":
                self.resync_soon()  # the draw is made: read the drawn place once
            return []
        frames = self.status_frames(message.status)
        if not isinstance(message, RoundMessage):
            return frames
        reset = self.epoch is not None and message.epoch != self.epoch
        if message.round < self.round or reset:
            # The counter went back or the epoch changed: the queue's keys were lost and made anew.
            self.resync_soon()
            return frames
        self.epoch = message.epoch  # the first round since the state read (made before any round) names it
        if message.round == self.round:
            return frames
        if message.round != self.round + 1 or message.resync:
            self.round = message.round
            self.resync_soon()
            return frames
        self.round = message.round
        self.rate, self.seats_left, self.waiting_total = message.rate, message.seats_left, message.waiting_total
        if self.state == "waiting":
            if self.user_id in message.admitted:
                self.state = "admitted"
                frames.append(self.admitted_frame(message.admitted_until))
            elif message.left_self(seq=self.seq, known_leaves=self.known_leaves):
                self.state = "not_in_queue"
            else:
                self.rank -= message.admitted_count + message.left_ahead(seq=self.seq, known_leaves=self.known_leaves)
                self.rank = max(self.rank, 0)
                frames += self.position_frames()
        elif self.state == "admitted" and self.user_id in message.lapsed:
            self.state = "expired"
            # The arrival window passed before the person opened the seat map: the page says why.
            frames.append(
                _frame("expired", reason="not_arrived") if self.user_id in message.absent else _frame("expired")
            )
        return frames

    def on_silence(self, counters: RoundCounters) -> None:
        """The event's channel was silent: read the state again only if a
        round went by unheard or the queue's keys were made anew. In the
        pre-queue the beat speaks every second, so a silence there is loss."""
        if self.state == "pre_queue" or (
            self.state in ("waiting", "admitted") and (counters.round != self.round or counters.epoch != self.epoch)
        ):
            self.resync_soon()

    def on_tick(self, now: float) -> list[str]:
        if self.retry_at is not None and now >= self.retry_at:
            self.retry_at = None
            self.resync_soon()  # Redis is restarting or failing over: try again
        if self.state == "waiting":
            return self.position_frames()
        if self.state == "pre_queue":
            if self.opens_at is not None and time.time() >= self.opens_at and now - self.last_sync >= 1.0:
                self.resync_soon()  # the sale opened: the entry's drawn place, once the draw has it
            return self.prequeue_frames()
        if self.state in ("not_in_queue", "expired") and now - self.last_sync >= NOT_IN_QUEUE_RECHECK_SECONDS:
            self.resync_soon()
        return []
