"""Booking-side reads. Availability is derived, never counted: a seat is
available when it is free or its hold has lapsed (lazy expiry)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Prefetch, Q, QuerySet, Sum, prefetch_related_objects
from django.db.models.functions import TruncMinute
from django.utils import timezone

from core.pg import sync_db
from reservations.availability import seat_free_q, seat_public_status
from reservations.errors import event_not_found, hold_not_found, order_not_found, ticket_not_found
from reservations.models import Event, Hold, Order, Payment, Refund, Seat, Ticket


@dataclass
class GradeCounts:
    grade: str
    price: int
    total: int = 0
    available: int = 0
    sold: int = 0


@dataclass
class EventCounts:
    grades: list[GradeCounts] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(g.total for g in self.grades)

    @property
    def available(self) -> int:
        return sum(g.available for g in self.grades)

    @property
    def unsold(self) -> int:
        return sum(g.total - g.sold for g in self.grades)


def event_seat_counts(*, event_ids: list[int], now: datetime | None = None) -> dict[int, EventCounts]:
    """Per-event, per-grade seat counts for many events in one query."""
    now = now or timezone.now()
    rows = (
        Seat.objects.filter(event_id__in=event_ids)
        .values("event_id", "grade__code", "grade__price")
        .annotate(
            total=Count("id"),
            available=Count("id", filter=seat_free_q(now)),
            sold=Count("id", filter=Q(status=Seat.Status.SOLD)),
        )
        .order_by("event_id", "-grade__price", "grade__code")
    )
    counts: dict[int, EventCounts] = defaultdict(EventCounts)
    for row in rows:
        counts[row["event_id"]].grades.append(
            GradeCounts(
                grade=row["grade__code"],
                price=row["grade__price"],
                total=row["total"],
                available=row["available"],
                sold=row["sold"],
            )
        )
    return {event_id: counts[event_id] for event_id in event_ids}


def event_list() -> QuerySet[Event]:
    return Event.objects.select_related("venue").order_by("sale_opens_at", "id")


def event_get(*, event_id: int) -> Event | None:
    return Event.objects.select_related("venue").filter(pk=event_id).first()


def event_get_or_404(*, event_id: int) -> Event:
    """The event, or 404 ``not_found`` (a JSON error in the API, Django's 404 page in the browser)."""
    event = event_get(event_id=event_id)
    if event is None:
        raise event_not_found()
    return event


EVENT_CACHE_SECONDS = 1.0
_events: dict[int, tuple[float, Event]] = {}


def event_for_booking(*, event_id: int) -> Event:
    """The event for the seat map and holds, read at most once a second per
    process (404 when there is none): every hold used to read it. Changes
    reach this process at once when made here (``event_cache_forget`` on
    save) and every other process within a second, as the queue's sale
    snapshot does. The instance is shared: read it, never change it."""
    event = _event_cached(event_id)
    if event is None:
        event = event_get_or_404(event_id=event_id)
        prefetch_related_objects([event], "price_grades")  # holds by grade need no query of their own
        _events[event_id] = (time.monotonic(), event)
    return event


def event_grade_ids(event: Event) -> dict[str, int]:
    """The event's price grades by code, from the booking cache's read
    (``event_for_booking`` brings them along): no query per hold."""
    return {grade.code: grade.id for grade in event.price_grades.all()}


def _event_cached(event_id: int) -> Event | None:
    cached = _events.get(event_id)
    if cached is not None and time.monotonic() - cached[0] < EVENT_CACHE_SECONDS:
        return cached[1]
    return None


async def event_for_booking_async(*, event_id: int) -> Event:
    """``event_for_booking`` for the fast path: from this process's cache
    without a thread; a miss (once a second per event) reads it in one."""
    event = _event_cached(event_id)
    return event if event is not None else await sync_db(event_for_booking)(event_id=event_id)


def event_cache_forget(*, event_id: int) -> None:
    _events.pop(event_id, None)


# --- Seat map, holds, orders and tickets -------------------------------------------

SEAT_LAYOUT_CACHE_SECONDS = 3600
_SEAT_FIELDS = ("id", "section", "row", "number", "grade__code", "grade__price", "status", "held_until")


def seat_layout_cache_key(event_id: int) -> str:
    return f"seatlayout:{event_id}"


def seat_rows_to_data(rows: Iterable[tuple], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": seat_id,
            "section": section,
            "row": row,
            "number": number,
            "grade": grade,
            "price": price,
            "status": seat_public_status(status, held_until, now),
        }
        for seat_id, section, row, number, grade, price, status, held_until in rows
    ]


def seat_map(*, event_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """The whole seat map in one query.

    What never changes during a sale (position, grade, price) is cached in
    Redis; what changes all the time (status, ``held_until``) is read fresh
    in one narrow query, so no seat change has to invalidate anything and the
    map is never stale. The status is worked out at read time (lazy expiry).
    The cached layout checks itself: if the event's seat ids differ (seats
    were added), it is rebuilt in the same single query.
    """
    key = seat_layout_cache_key(event_id)
    layout: dict[int, tuple] | None = cache.get(key)
    seats = Seat.objects.filter(event_id=event_id).order_by("id")
    if layout is not None:
        states = list(seats.values_list("id", "status", "held_until"))
        if len(states) == len(layout) and all(seat_id in layout for seat_id, _, _ in states):
            rows = [(seat_id, *layout[seat_id], status, until) for seat_id, status, until in states]
            return seat_rows_to_data(rows, now or timezone.now())
    rows = list(seats.values_list(*_SEAT_FIELDS))
    cache.set(key, {r[0]: r[1:6] for r in rows}, SEAT_LAYOUT_CACHE_SECONDS)
    return seat_rows_to_data(rows, now or timezone.now())


def seats_data(*, seat_ids: list[int], now: datetime | None = None) -> list[dict[str, Any]]:
    rows = Seat.objects.filter(id__in=seat_ids).order_by("id").values_list(*_SEAT_FIELDS)
    return seat_rows_to_data(rows, now or timezone.now())


def hold_get_or_404(*, hold_id: int, user_id: int) -> Hold:
    """The user's own hold; 404 for anyone else's, as for a hold that does not exist."""
    hold = Hold.objects.select_related("event").filter(pk=hold_id, user_id=user_id).first()
    if hold is None:
        raise hold_not_found()
    return hold


def _orders() -> QuerySet[Order]:
    tickets = Ticket.objects.select_related("seat__grade").order_by("id")
    refunds = Refund.objects.order_by("id")
    return Order.objects.select_related("event").prefetch_related(
        Prefetch("tickets", queryset=tickets), Prefetch("refunds", queryset=refunds)
    )


def order_list(*, user_id: int) -> QuerySet[Order]:
    return _orders().filter(user_id=user_id)


def order_get_or_404(*, order_id: int, user_id: int) -> Order:
    """The user's own order; 404 for anyone else's."""
    order = _orders().filter(pk=order_id, user_id=user_id).first()
    if order is None:
        raise order_not_found()
    return order


def ticket_list(*, user_id: int) -> QuerySet[Ticket]:
    return Ticket.objects.filter(user_id=user_id).select_related("seat__grade", "order").order_by("-order_id", "id")


# --- The organizer's dashboard ----------------------------------------------------

#: Payments that sold nothing: declined cards, gateway failures and charges given back.
PAYMENT_FAILED_STATUSES = (
    Payment.Status.DECLINED,
    Payment.Status.FAILED,
    Payment.Status.VOIDING,
    Payment.Status.VOIDED,
)


@dataclass(frozen=True)
class SalesFigures:
    """An event's sale as its organizer watches it (no person's data in it)."""

    seats_total: int
    seats_available: int
    seats_held: int
    seats_sold: int
    revenue: int  # paid orders, minor units
    orders_paid: int
    checkouts_last_minute: int
    payment_failures: int
    payment_failures_last_minute: int
    checkouts_per_minute: dict[datetime, int]  # minute start -> orders made in it
    failures_per_minute: dict[datetime, int]  # minute start -> payments that failed in it


def _per_minute(queryset: QuerySet, field_name: str) -> dict[datetime, int]:
    rows = queryset.order_by().annotate(minute=TruncMinute(field_name)).values("minute").annotate(n=Count("id"))
    return {row["minute"]: row["n"] for row in rows}


def event_sales_figures(*, event_id: int, since: datetime, now: datetime | None = None) -> SalesFigures:
    """Seats by state (lazy expiry: a lapsed hold counts as available),
    revenue and checkouts from the orders, payment failures from the
    payments; per minute from ``since``. Five queries."""
    now = now or timezone.now()
    minute_ago = now - timedelta(seconds=60)
    counts = event_seat_counts(event_ids=[event_id], now=now)[event_id]
    sold = sum(g.sold for g in counts.grades)
    orders = Order.objects.filter(event_id=event_id)
    totals = orders.aggregate(
        revenue=Sum("total", filter=Q(status=Order.Status.PAID), default=0),
        paid=Count("id", filter=Q(status=Order.Status.PAID)),
        last_minute=Count("id", filter=Q(created_at__gte=minute_ago)),
    )
    failed = Payment.objects.filter(hold__event_id=event_id, status__in=PAYMENT_FAILED_STATUSES)
    failures = failed.aggregate(all=Count("id"), last_minute=Count("id", filter=Q(created_at__gte=minute_ago)))
    return SalesFigures(
        seats_total=counts.total,
        seats_available=counts.available,
        seats_held=counts.total - counts.available - sold,
        seats_sold=sold,
        revenue=totals["revenue"],
        orders_paid=totals["paid"],
        checkouts_last_minute=totals["last_minute"],
        payment_failures=failures["all"],
        payment_failures_last_minute=failures["last_minute"],
        checkouts_per_minute=_per_minute(orders.filter(created_at__gte=since), "created_at"),
        failures_per_minute=_per_minute(failed.filter(created_at__gte=since), "created_at"),
    )


@dataclass(frozen=True)
class CheckInCounts:
    """An event's door figures: tickets checked in, tickets that admit (valid
    or checked in), and the last scan."""

    checked_in: int = 0
    admitting: int = 0
    last_scan: datetime | None = None


def event_checkin_counts(*, event_ids: list[int]) -> dict[int, CheckInCounts]:
    """Check-in figures of many events in one query (the ``ticket_event_status_user`` index)."""
    rows = (
        Ticket.objects.filter(event_id__in=event_ids, status__in=[Ticket.Status.VALID, Ticket.Status.CHECKED_IN])
        .values("event_id")
        .annotate(
            checked_in=Count("id", filter=Q(status=Ticket.Status.CHECKED_IN)),
            admitting=Count("id"),
            last_scan=Max("checked_in_at"),
        )
        .order_by()
    )
    found = {row["event_id"]: CheckInCounts(row["checked_in"], row["admitting"], row["last_scan"]) for row in rows}
    return {event_id: found.get(event_id, CheckInCounts()) for event_id in event_ids}


#: Events at the door: those starting from this long ago on.
DOOR_EVENTS_SINCE = timedelta(hours=24)


def door_events(*, now: datetime | None = None) -> list[Event]:
    """The events door staff may be scanning for: starting from a day ago on, soonest first."""
    since = (now or timezone.now()) - DOOR_EVENTS_SINCE
    return list(Event.objects.filter(starts_at__gte=since).select_related("venue").order_by("starts_at", "id"))


def event_time_zone(event: Event) -> ZoneInfo:
    """The zone an event's dates are told in (tickets, e-mails): the site's
    ``TIME_ZONE``, one per deployment. Events carry no zone of their own
    yet; a venue field would take a migration, and this function its place."""
    return ZoneInfo(settings.TIME_ZONE)


def ticket_get_or_404(*, ticket_id: int, user_id: int) -> Ticket:
    """The user's own ticket with its event, venue, seat and grade; 404 for
    anyone else's, as for one that does not exist."""
    ticket = (
        Ticket.objects.filter(pk=ticket_id, user_id=user_id)
        .select_related("event__venue", "seat__grade", "order", "user")
        .first()
    )
    if ticket is None:
        raise ticket_not_found()
    return ticket
