"""Booking-side operations (writes). Holds and checkout live in their own modules."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from core.errors import Invalid
from reservations.models import Event, Venue
from reservations.seatmaps import seat_map_generate


@transaction.atomic
def event_create(
    *,
    name: str,
    venue_name: str,
    sections: str,
    opens_in: float = 0,
    starts_at: datetime | None = None,
    sale_closes_at: datetime | None = None,
    currency: str = "KRW",
    queue_enabled: bool = True,
    batch: int | None = None,
    interval: int | None = None,
    cap: int | None = None,
    max_per_user: int | None = None,
    hold_seconds: int | None = None,
    admission_seconds: int | None = None,
    arrival_seconds: int | None = None,
    challenge_bits: int | None = None,
    cancel_hours: float | None = None,
    prequeue_minutes: float = 0,
) -> Event:
    """Create an event with its whole seat map, all or nothing. With
    ``cancel_hours`` buyers may cancel until that many hours before it
    starts; with ``prequeue_minutes`` its pre-queue opens that long before
    the sale."""
    now = timezone.now()
    starts_at = starts_at or now + timedelta(days=30)
    opens_at = now + timedelta(seconds=opens_in)
    venue, _ = Venue.objects.get_or_create(name=venue_name)
    fields = {
        "admission_batch_size": batch,
        "admission_interval_seconds": interval,
        "admission_cap": cap,
        "max_tickets_per_user": max_per_user,
        "hold_seconds": hold_seconds,
        "admission_seconds": admission_seconds,
        "arrival_seconds": arrival_seconds,
        "challenge_bits": challenge_bits,
    }
    event = Event(
        name=name,
        venue=venue,
        sale_opens_at=opens_at,
        prequeue_opens_at=opens_at - timedelta(minutes=prequeue_minutes) if prequeue_minutes else None,
        sale_closes_at=sale_closes_at,
        starts_at=starts_at,
        cancel_until=None if cancel_hours is None else starts_at - timedelta(hours=cancel_hours),
        currency=currency,
        queue_enabled=queue_enabled,
        **{key: value for key, value in fields.items() if value is not None},
    )
    try:
        event.full_clean(exclude=["venue"])
    except ValidationError as exc:
        raise Invalid(gettext_lazy("The event is not valid."), fields=exc.message_dict) from None
    event.save()
    seat_map_generate(event=event, spec=sections)
    return event
