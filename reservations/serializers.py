"""Output shapes of the booking API (see shared API.md)."""

from __future__ import annotations

from typing import Any

from reservations.models import Event, Hold, Order, Refund, Seat, Ticket
from reservations.selectors import EventCounts


def event_data(event: Event, counts: EventCounts) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "venue": event.venue.name,
        "starts_at": event.starts_at.isoformat(),
        "sale_opens_at": event.sale_opens_at.isoformat(),
        "sale_closes_at": event.sale_closes_at.isoformat() if event.sale_closes_at else None,
        "prequeue_opens_at": event.prequeue_opens_at.isoformat() if event.prequeue_opens_at else None,
        "status": event.public_status(seats_unsold=counts.unsold),
        "queue_enabled": event.queue_enabled,
        "max_tickets_per_user": event.max_tickets_per_user,
        "hold_seconds": event.hold_seconds,
        "admission_seconds": event.admission_seconds,
        "cancel_until": event.cancel_until.isoformat() if event.cancel_until else None,
        "currency": event.currency,
        "price_tiers": [{"grade": g.grade, "price": g.price, "available": g.available} for g in counts.grades],
        "seats_total": counts.total,
        "seats_available": counts.available,
    }


def hold_data(hold: Hold, seats: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": hold.id,
        "event": hold.event_id,
        "seats": seats,
        "total": hold.total,
        "currency": hold.event.currency,
        "expires_at": hold.expires_at.isoformat(),
        "status": hold.public_status(),
        "created_at": hold.created_at.isoformat(),
    }


def ticket_seat_data(seat: Seat) -> dict[str, Any]:
    return {
        "id": seat.id,
        "section": seat.section,
        "row": seat.row,
        "number": seat.number,
        "grade": seat.grade.code,
        "price": seat.grade.price,
        "status": seat.status,
    }


def ticket_data(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "code": ticket.code,
        "event": ticket.event_id,
        "order": ticket.order_id,
        "status": ticket.status,
        "checked_in_at": ticket.checked_in_at.isoformat() if ticket.checked_in_at else None,
        "price": ticket.price,
        "seat": ticket_seat_data(ticket.seat),
    }


def refund_data(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason,
        "created_at": refund.created_at.isoformat(),
        "refunded_at": refund.refunded_at.isoformat() if refund.refunded_at else None,
    }


def order_data(order: Order, tickets: list[Ticket] | None = None) -> dict[str, Any]:
    """The order; ``tickets`` when the caller already has them (a checkout
    that just wrote them: no refunds yet)."""
    refunds = [] if tickets is not None else [refund_data(r) for r in order.refunds.all()]
    if tickets is None:
        tickets = list(order.tickets.all())
    return {
        "id": order.id,
        "event": order.event_id,
        "hold": order.hold_id,
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "created_at": order.created_at.isoformat(),
        "tickets": [ticket_data(t) for t in tickets],
        "refunds": refunds,
    }
