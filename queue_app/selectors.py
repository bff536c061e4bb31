"""Queue-side reads: a short-lived snapshot of an event's sale settings for
the join hot path, and the seat budget that keeps admission seat-aware."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from channels.db import database_sync_to_async
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, NotFound
from core.redis import get_redis
from queue_app.controller import admission_control_figures
from queue_app.draw import ALGORITHM
from queue_app.keys import meta_key
from queue_app.store import ADMITTED_MINUTES_KEPT, Prequeue, store_figures, store_round_log
from reservations.availability import hold_live_q, seat_free_q
from reservations.models import Draw, Event, Hold, Seat
from reservations.selectors import event_sales_figures

SNAPSHOT_TTL_SECONDS = 1.0


@dataclass(frozen=True)
class SaleSnapshot:
    """What a join or a state read needs to know about an event, at most
    ``SNAPSHOT_TTL_SECONDS`` old: admin changes reach every process within it."""

    event_id: int
    queue_enabled: bool
    status: str
    sale_opens_at: datetime
    sale_closes_at: datetime | None
    has_unsold: bool
    batch: int
    interval: int
    cap: int
    admission_seconds: int
    challenge_bits: int  # proof of work a first join must show (0: none)
    rate: float | None  # measured admission rate (people/s), from the last round
    seats_left: int | None  # free seats not yet spoken for by admitted shoppers
    prequeue_opens_at: datetime | None = None  # the pre-queue's opening (None: no pre-queue)
    draw_seed: str = ""  # the draw's secret seed (hex): new entries' place keys are made with it

    def _event(self) -> Event:
        return Event(
            status=self.status,
            sale_opens_at=self.sale_opens_at,
            sale_closes_at=self.sale_closes_at,
            prequeue_opens_at=self.prequeue_opens_at,
        )

    def public_status(self, now: datetime | None = None) -> str:
        return self._event().public_status(seats_unsold=1 if self.has_unsold else 0, now=now)

    def join_refusal(self) -> Conflict | None:
        """Why a join is refused now (``Event.sale_refusal``; a paused sale still queues)."""
        return self._event().sale_refusal(seats_unsold=1 if self.has_unsold else 0, paused_ok=True, prequeue_ok=True)

    @cached_property
    def prequeue(self) -> Prequeue | None:
        """What the queue's scripts need of the event's pre-queue (None: it has none)."""
        if self.prequeue_opens_at is None:
            return None
        return Prequeue(opens=self.sale_opens_at.timestamp(), seed=bytes.fromhex(self.draw_seed))

    @property
    def asks_challenge(self) -> bool:
        """A first join must answer a challenge (``queue_app.challenge``)."""
        return self.queue_enabled and self.challenge_bits > 0

    @property
    def fallback_rate(self) -> float:
        return self.batch / self.interval


_snapshots: dict[int, tuple[float, SaleSnapshot | None]] = {}
_snapshots_lock = threading.Lock()
_snapshot_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Future]] = (
    weakref.WeakKeyDictionary()
)


def _snapshot_cached(event_id: int) -> tuple[bool, SaleSnapshot | None]:
    """(fresh, snapshot): whether this process holds a snapshot young enough."""
    cached = _snapshots.get(event_id)
    if cached is not None and time.monotonic() - cached[0] < SNAPSHOT_TTL_SECONDS:
        return True, cached[1]
    return False, None


def _snapshot_refresh(event_id: int) -> SaleSnapshot | None:
    now = time.monotonic()
    snapshot = _snapshot_read(event_id)
    with _snapshots_lock:
        _snapshots[event_id] = (now, snapshot)
    return snapshot


def event_sale_snapshot(*, event_id: int) -> SaleSnapshot | None:
    """The event's sale snapshot, read from PostgreSQL and Redis at most once
    a second per process (None when there is no such event)."""
    fresh, snapshot = _snapshot_cached(event_id)
    return snapshot if fresh else _snapshot_refresh(event_id)


async def event_sale_snapshot_async(*, event_id: int) -> SaleSnapshot | None:
    """``event_sale_snapshot`` for asyncio code: a hit costs no thread; on a
    miss one read runs in Django's sync thread and every coroutine that
    missed meanwhile awaits that same read (no stampede when the snapshot
    ages out under thousands of joins a second)."""
    fresh, snapshot = _snapshot_cached(event_id)
    if fresh:
        return snapshot
    loop = asyncio.get_running_loop()
    reads = _snapshot_reads.setdefault(loop, {})
    read = reads.get(event_id)
    if read is None:
        read = reads[event_id] = asyncio.ensure_future(database_sync_to_async(_snapshot_refresh)(event_id))
        read.add_done_callback(lambda _: reads.pop(event_id, None))
    return await asyncio.shield(read)


def event_sale_snapshot_forget(*, event_id: int | None = None) -> None:
    """Drop this process's cached snapshot(s), e.g. after an organizer's change."""
    with _snapshots_lock:
        if event_id is None:
            _snapshots.clear()
        else:
            _snapshots.pop(event_id, None)


def _snapshot_read(event_id: int) -> SaleSnapshot | None:
    event = (
        Event.objects.filter(pk=event_id)
        .only(
            "id",
            "queue_enabled",
            "status",
            "sale_opens_at",
            "sale_closes_at",
            "admission_batch_size",
            "admission_interval_seconds",
            "admission_cap",
            "admission_seconds",
            "challenge_bits",
            "prequeue_opens_at",
            "draw_seed",
        )
        .first()
    )
    if event is None:
        return None
    has_unsold = Seat.objects.filter(event_id=event_id).exclude(status=Seat.Status.SOLD).exists()
    rate, seats_left = get_redis().hmget(meta_key(event_id), "rate", "seats_left")
    return SaleSnapshot(
        event_id=event.id,
        queue_enabled=event.queue_enabled,
        status=event.status,
        sale_opens_at=event.sale_opens_at,
        sale_closes_at=event.sale_closes_at,
        has_unsold=has_unsold,
        batch=event.admission_batch_size,
        interval=event.admission_interval_seconds,
        cap=event.admission_cap,
        admission_seconds=event.admission_seconds,
        challenge_bits=event.challenge_bits,
        rate=float(rate) if rate else None,
        seats_left=int(float(seats_left)) if seats_left else None,
        prequeue_opens_at=event.prequeue_opens_at,
        draw_seed=event.draw_seed if event.prequeue_opens_at is not None else "",
    )


@dataclass(frozen=True)
class SeatBudget:
    free: int  # available seats, lapsed holds counted as free (lazy expiry)
    admitted_without_hold: int  # admitted shoppers who hold no seat yet

    @property
    def seats_left(self) -> int:
        """Seats still free once every admitted shopper without a hold takes one."""
        return max(0, self.free - self.admitted_without_hold)


def admission_seat_budget(*, event_id: int, admitted_ids: list[int], now: datetime | None = None) -> SeatBudget:
    """Count what admission may still promise: free seats minus one seat for
    each admitted shopper who holds none yet (a live hold already took its
    seats out of the free count)."""
    now = now or timezone.now()
    free = Seat.objects.filter(seat_free_q(now), event_id=event_id).count()
    holding: set[int] = set()
    if admitted_ids:
        holding = set(
            Hold.objects.filter(hold_live_q(now), event_id=event_id, user_id__in=admitted_ids)
            .values_list("user_id", flat=True)
            .distinct()
        )
    return SeatBudget(free=free, admitted_without_hold=len(set(admitted_ids) - holding))


#: The dashboard's chart windows, in minutes (the admissions per minute are kept as long).
DASHBOARD_MINUTES = range(1, ADMITTED_MINUTES_KEPT + 1)
#: However many organizers watch, an event's figures are read at most this often.
DASHBOARD_CACHE_SECONDS = 1.0
#: The last rounds the dashboard lists.
DASHBOARD_ROUNDS = 20


def event_dashboard(*, event: Event, minutes: int) -> dict[str, Any]:
    """Everything the organizer's live dashboard shows of one event, as
    JSON: the queue (Redis), the admission controller's state, the seats and
    sales (PostgreSQL), per-minute series over the last ``minutes`` and the
    last rounds. "Per minute" figures count the last 60 seconds; the
    measured rate (``rate_per_minute``) is the one the ETAs use. Shared
    through the cache for ``DASHBOARD_CACHE_SECONDS``, so open dashboards
    cost one read a second per event. Aggregates only: no person's data."""
    key = f"dashboard:{event.id}:{minutes}"
    figures = cache.get(key)
    if figures is None:
        figures = _dashboard_read(event=event, minutes=minutes, now=timezone.now())
        cache.set(key, figures, DASHBOARD_CACHE_SECONDS)
    return figures


def _dashboard_read(*, event: Event, minutes: int, now: datetime) -> dict[str, Any]:
    first = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    starts = [first + timedelta(minutes=i) for i in range(minutes)]
    sales = event_sales_figures(event_id=event.id, since=first, now=now)
    waiting, admitted, rate = store_figures(event_id=event.id, now=now.timestamp())
    batch, reason = admission_control_figures(event_id=event.id)
    rounds, admitted_by_minute = store_round_log(event_id=event.id)
    minute_ago = now - timedelta(seconds=60)
    admitted_last_minute = sum(r["admitted"] for r in rounds if datetime.fromisoformat(r["at"]) >= minute_ago)
    return {
        "event": {
            "id": event.id,
            "name": event.name,
            "status": event.public_status(seats_unsold=sales.seats_total - sales.seats_sold, now=now),
            "organizer_status": event.status,
            "queue_enabled": event.queue_enabled,
            "currency": event.currency,
        },
        "at": now.isoformat(),
        "queue": {
            "waiting": waiting,
            "admitted": admitted,
            "admitted_per_minute": admitted_last_minute,
            "rate_per_minute": None if rate is None else round(rate * 60),
            "batch": batch,
            "batch_max": event.admission_batch_size,
            "controller": reason,
        },
        "seats": {
            "total": sales.seats_total,
            "available": sales.seats_available,
            "held": sales.seats_held,
            "sold": sales.seats_sold,
        },
        "sales": {
            "revenue": sales.revenue,
            "orders": sales.orders_paid,
            "checkouts_per_minute": sales.checkouts_last_minute,
            "payment_failures": sales.payment_failures,
            "payment_failures_per_minute": sales.payment_failures_last_minute,
        },
        "series": {
            "minutes": [start.astimezone(UTC).isoformat() for start in starts],
            "admitted": [admitted_by_minute.get(int(start.timestamp()) // 60, 0) for start in starts],
            "checkouts": [sales.checkouts_per_minute.get(start, 0) for start in starts],
            "payment_failures": [sales.failures_per_minute.get(start, 0) for start in starts],
        },
        "rounds": rounds[:DASHBOARD_ROUNDS],
    }


def event_dashboard_forget(*, event_id: int) -> None:
    """Drop the event's shared figures (after an organizer's change: the next read is fresh)."""
    cache.delete_many([f"dashboard:{event_id}:{minutes}" for minutes in DASHBOARD_MINUTES])


def queue_events_live(*, now: datetime) -> QuerySet[Event]:
    """Queued events whose sale is open, or closed less than five minutes
    ago (their waiting pages still hear the end): the admission rounds' and
    the queue gauges' events."""
    return Event.objects.filter(
        Q(sale_closes_at__isnull=True) | Q(sale_closes_at__gt=now - timedelta(minutes=5)),
        queue_enabled=True,
        sale_opens_at__lte=now,
        status__in=[Event.Status.ON_SALE, Event.Status.PAUSED],
    )


class DrawPending(Conflict):
    def __init__(self) -> None:
        super().__init__("draw_pending", _("The draw has not been made yet: it is made when the sale opens."))


def _prequeue_event_or_404(event_id: int) -> Event:
    """The event, if it has a pre-queue (an event without one has no draw: 404)."""
    event = Event.objects.filter(pk=event_id, prequeue_opens_at__isnull=False).first()
    if event is None:
        raise NotFound(_("This event has no pre-queue draw."))
    return event


def draw_public_get(*, event_id: int) -> dict[str, Any]:
    """The draw's public record (API.md "Fair opening"): the commitment
    before the draw; the seed, the count and the time after it."""
    event = _prequeue_event_or_404(event_id)
    draw = Draw.objects.filter(event_id=event.id).only("drawn_at", "entrants").first()
    opens_at = event.sale_opens_at.isoformat()
    if draw is None:
        return {"state": "pending", "commitment": event.draw_commitment, "opens_at": opens_at}
    return {
        "state": "drawn",
        "commitment": event.draw_commitment,
        "seed": event.draw_seed,
        "algorithm": ALGORITHM,
        "entrants": draw.entrants,
        "drawn_at": draw.drawn_at.isoformat(),
        "opens_at": opens_at,
    }


def draw_entries_tag(*, event_id: int) -> str:
    """The drawn list's ``ETag`` (it never changes once drawn); 409
    ``draw_pending`` before the draw."""
    event = _prequeue_event_or_404(event_id)
    if not Draw.objects.filter(event_id=event.id).exists():
        raise DrawPending()
    return f'"{event.draw_commitment}"'


def draw_entries_get(*, event_id: int) -> bytes:
    """The drawn entry ids in drawn order: the JSON array, kept gzipped
    (``draw_entries_tag`` first: it answers 404 and 409)."""
    return bytes(Draw.objects.filter(event_id=event_id).values_list("entries", flat=True).get())
