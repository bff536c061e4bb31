"""Output shapes of the booking API (see shared API.md)."""

from __future__ import annotations

from typing import Any

from reservations.models import Event
from reservations.selectors import EventCounts


def event_data(event: Event, counts: EventCounts) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "venue": event.venue.name,
        "starts_at": event.starts_at.isoformat(),
        "sale_opens_at": event.sale_opens_at.isoformat(),
        "sale_closes_at": event.sale_closes_at.isoformat() if event.sale_closes_at else None,
        "status": event.public_status(seats_unsold=counts.unsold),
        "queue_enabled": event.queue_enabled,
        "max_tickets_per_user": event.max_tickets_per_user,
        "hold_seconds": event.hold_seconds,
        "admission_seconds": event.admission_seconds,
        "currency": event.currency,
        "price_tiers": [{"grade": g.grade, "price": g.price, "available": g.available} for g in counts.grades],
        "seats_total": counts.total,
        "seats_available": counts.available,
    }
