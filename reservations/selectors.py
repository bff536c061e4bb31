"""Booking-side reads. Availability is derived, never counted: a seat is
available when it is free or its hold has lapsed (lazy expiry)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from reservations.models import Event, Seat


def seat_available_q(now: datetime) -> Q:
    """Seats that can be sold now: free, or held by a hold that has lapsed."""
    return Q(status=Seat.Status.AVAILABLE) | Q(status=Seat.Status.HELD, held_until__lte=now)


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
            available=Count("id", filter=seat_available_q(now)),
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
