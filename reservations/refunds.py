"""Cancellations and refunds: tickets given back, seats back on sale, money back.

The rule is one function, ``tickets_return``. In one short transaction it
locks the order, then its tickets by id, refuses when a ticket to give back
was checked in, voids the tickets, puts their seats back on sale
(``seats_release_sql``: seat rows locked by id, the one lock order) and
writes the refund owed as a ``Refund`` row (the outbox). After commit
``seats_returned`` goes out (a sold-out sale opens again, the queue admits
again) and the gateway refund runs outside any lock
(``reservations.settlement.refund_settle``); a refund the gateway does not
take, or whose process dies, is finished by reconciliation, once: the
refund's own key makes every retry the same refund.

Who may give back what is the callers' part: a buyer cancels a whole order
of theirs until the event's ``cancel_until`` (``order_cancel``); the
organizer refunds an order or single tickets at any time (``order_refund``,
``tickets_refund``). Nobody gives back a ticket that was used.

``BOOKING_ROW_LOCKS = False`` (the concurrency tests' debug switch) takes
the order and ticket locks away and pauses ``BOOKING_RACE_PAUSE_SECONDS``
between the check and the write, to show the races the locks close.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from reservations.errors import already_checked_in, cancel_closed, error_messages, order_not_found
from reservations.holds import seats_release_sql
from reservations.locking import locked_atomic, row_locks_enabled
from reservations.models import Order, Payment, Refund, Ticket
from reservations.selectors import event_for_booking
from reservations.settlement import refund_settle
from reservations.signals import seats_returned

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Returned:
    """What ``tickets_return`` did: the tickets voided (none when there was
    nothing left to give back), their seats, and the refund written."""

    order: Order
    ticket_ids: list[int] = field(default_factory=list)
    seat_ids: list[int] = field(default_factory=list)
    refund_id: int | None = None


def tickets_return(
    *,
    order_id: int,
    ticket_ids: list[int] | None = None,
    owner_id: int | None = None,
    reason: str,
    requested_by_id: int | None,
    deadline: bool,
    now: datetime | None = None,
) -> Returned:
    """Give back ``ticket_ids`` of an order (``None``: all of it), then pay
    the refund. ``owner_id`` limits it to that person's order (404 for
    anyone else's); ``deadline`` holds it to the event's ``cancel_until``.
    Tickets already void are left alone, so a repeat changes nothing."""
    returned = _tickets_void(
        order_id=order_id,
        ticket_ids=ticket_ids,
        owner_id=owner_id,
        reason=reason,
        requested_by_id=requested_by_id,
        deadline=deadline,
        now=now or timezone.now(),
    )
    if returned.refund_id is not None:
        refund_settle(refund_id=returned.refund_id)  # after commit, outside any lock
    return returned


def _tickets_void(
    *,
    order_id: int,
    ticket_ids: list[int] | None,
    owner_id: int | None,
    reason: str,
    requested_by_id: int | None,
    deadline: bool,
    now: datetime,
) -> Returned:
    """The transaction of ``tickets_return``."""
    locks = row_locks_enabled()
    with locked_atomic():
        orders = Order.objects.filter(pk=order_id)
        if owner_id is not None:
            orders = orders.filter(user_id=owner_id)
        order = (orders.select_for_update() if locks else orders).first()
        if order is None:
            raise order_not_found()
        tickets = Ticket.objects.filter(order_id=order.id).order_by("id")
        tickets = list(tickets.select_for_update() if locks else tickets)
        live = [t for t in tickets if t.status != Ticket.Status.VOID]
        chosen = [t for t in live if ticket_ids is None or t.id in ticket_ids]
        if not chosen:
            return Returned(order=order)
        if deadline and not event_for_booking(event_id=order.event_id).cancel_open(now=now):
            raise cancel_closed()
        used = [t for t in chosen if t.status == Ticket.Status.CHECKED_IN]
        if used:
            detail = error_messages["order_checked_in"] if ticket_ids is None else None
            raise already_checked_in(checked_in_at=used[0].checked_in_at.isoformat(), detail=detail)
        if not locks and settings.BOOKING_RACE_PAUSE_SECONDS:
            time.sleep(settings.BOOKING_RACE_PAUSE_SECONDS)
        whole = len(chosen) == len(live)
        refund = _refund_write(order=order, tickets=chosen, whole=whole, reason=reason, requested_by_id=requested_by_id)
        voided = [t.id for t in chosen]
        seat_ids = [t.seat_id for t in chosen]
        Ticket.objects.filter(id__in=voided).update(status=Ticket.Status.VOID, refund=refund)
        with connection.cursor() as cursor:
            cursor.execute(seats_release_sql("id = ANY(%s) AND status = 'sold'"), [seat_ids])
        if whole:
            order.status = Order.Status.REFUNDED
            order.save(update_fields=["status", "updated_at"])
            Payment.objects.filter(order_id=order.id, status=Payment.Status.PAID).update(
                status=Payment.Status.REFUNDING, updated_at=now
            )
        event_id = order.event_id
        transaction.on_commit(lambda: _seats_returned_send(event_id=event_id, order_id=order_id, seat_ids=seat_ids))
    return Returned(order=order, ticket_ids=voided, seat_ids=seat_ids, refund_id=None if refund is None else refund.id)


def _refund_write(
    *, order: Order, tickets: list[Ticket], whole: bool, reason: str, requested_by_id: int | None
) -> Refund | None:
    """The refund owed for ``tickets``: their prices, or, when they are the
    last of the order, whatever of the payment is not refunded yet (so the
    refunds add up to the charge exactly). None when nothing is owed."""
    payment = Payment.objects.filter(order_id=order.id).first()
    if payment is None:
        return None
    if whole:
        before = Refund.objects.filter(payment=payment).aggregate(total=Sum("amount"))["total"] or 0
        amount = payment.amount - before
    else:
        amount = sum(t.price for t in tickets)
    if amount <= 0:
        return None
    return Refund.objects.create(
        order=order,
        payment=payment,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        requested_by_id=requested_by_id,
    )


def _seats_returned_send(*, event_id: int, order_id: int, seat_ids: list[int]) -> None:
    """``seats_returned``, once the seats are back on sale; a receiver that
    fails is logged, never raised into the cancellation that happened."""
    event = event_for_booking(event_id=event_id)
    sent = seats_returned.send_robust(Order, event=event, event_id=event_id, order_id=order_id, seat_ids=seat_ids)
    for receiver, result in sent:
        if isinstance(result, Exception):
            logger.error("seats_returned receiver %r failed for order %s", receiver, order_id, exc_info=result)


def order_cancel(*, order_id: int, user_id: int, now: datetime | None = None) -> Returned:
    """The buyer cancels a whole order of theirs, until the event's
    ``cancel_until`` (409 ``cancel_closed``); 409 ``already_checked_in``
    when a ticket of it was used. A cancelled order cancelled again: nothing
    happens."""
    return tickets_return(
        order_id=order_id,
        owner_id=user_id,
        reason=Refund.Reason.BUYER,
        requested_by_id=user_id,
        deadline=True,
        now=now,
    )


def order_refund(*, order_id: int, by_user_id: int | None = None) -> Returned:
    """The organizer refunds a whole order, whenever (not its used tickets)."""
    return tickets_return(order_id=order_id, reason=Refund.Reason.ORGANIZER, requested_by_id=by_user_id, deadline=False)


def tickets_refund(*, ticket_ids: list[int], by_user_id: int | None = None) -> list[Returned]:
    """The organizer refunds single tickets, one refund per order."""
    by_order: dict[int, list[int]] = defaultdict(list)
    for ticket_id, order_id in Ticket.objects.filter(id__in=ticket_ids).values_list("id", "order_id"):
        by_order[order_id].append(ticket_id)
    return [
        tickets_return(
            order_id=order_id,
            ticket_ids=ids,
            reason=Refund.Reason.ORGANIZER,
            requested_by_id=by_user_id,
            deadline=False,
        )
        for order_id, ids in sorted(by_order.items())
    ]
