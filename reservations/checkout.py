"""The checkout rule: pay for a hold, exactly once, and turn it into an order.

Three steps, and the payment gateway is never called while a row is locked:

1. ``checkout_begin`` (short transaction): lock the hold, settle the
   ``Idempotency-Key`` (a replay of a paid key returns its order), check the
   hold is live, and mark it as being paid: ``paying_until`` on the hold and
   on its seats' ``held_until``, so neither expiry nor another shopper can
   take the seats mid-payment.
2. The gateway charge, with an idempotency key of its own
   (``Payment.charge_key``), so a retry never charges twice.
3. ``checkout_finish`` (short transaction): lock the hold and its seats; if
   the hold is still ours, sell the seats and write the order, its tickets
   and the confirmation record; if it was lost meanwhile, void the charge
   and answer 410. A decline or a timeout (``checkout_fail``) undoes step 1:
   the hold stays active until it expires.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Subquery
from django.utils import timezone
from rest_framework import status

from core.errors import ApplicationError, Invalid
from reservations.errors import (
    already_checked_out,
    checkout_in_progress,
    error_messages,
    hold_expired,
    hold_not_found,
    payment_unavailable,
)
from reservations.locking import Busy, locked_atomic
from reservations.models import Event, Hold, Order, Payment, PriceGrade, Seat, Ticket
from reservations.orders import confirmations_kick
from reservations.payments import CAPTURED, VOIDED, Charge, PaymentDeclined, PaymentError, payment_gateway
from reservations.settlement import payment_refund, payment_void
from reservations.signals import order_paid

logger = logging.getLogger(__name__)

#: Added to ``PAYMENT_TIMEOUT_SECONDS``: how long a paying hold is safe from expiry.
PAYING_MARGIN_SECONDS = 30


@dataclass
class CheckoutResult:
    order: Order
    created: bool
    tickets: list[Ticket] | None = None  # the tickets just written, with their seats (None on a replay)


@dataclass
class _Begun:
    payment: Payment | None = None
    order: Order | None = None
    stale_payment_id: int | None = None  # an earlier run of this key died mid-payment: reconcile it first


_PAYING_SQL = """
WITH paying AS (UPDATE reservations_hold SET paying_until = %s, updated_at = %s WHERE id = %s)
UPDATE reservations_seat SET held_until = %s
WHERE id IN (SELECT id FROM reservations_seat WHERE hold_id = %s AND status = 'held' ORDER BY id FOR UPDATE)
"""


def _hold_paying_set(*, hold: Hold, paying_until: datetime | None, now: datetime) -> None:
    """Mark the (locked) hold as being paid until ``paying_until``, or no longer
    (None), and move its seats' ``held_until`` to the later of its expiry and
    that (the invariant ``reservations.availability`` relies on): one round
    trip, seats locked in id order (the one lock order)."""
    hold.paying_until = paying_until
    seats_until = max(hold.expires_at, paying_until) if paying_until is not None else hold.expires_at
    with connection.cursor() as cursor:
        cursor.execute(_PAYING_SQL, [paying_until, now, hold.id, seats_until, hold.id])


def checkout_input_check(*, idempotency_key: str, payment_token: object) -> None:
    """400 ``invalid`` for a missing or oversized key or a missing card token
    (after the hold's 404: the contract's error order)."""
    if not idempotency_key or len(idempotency_key) > 255:
        raise Invalid(error_messages["key_required"])
    if not isinstance(payment_token, str) or not payment_token:
        raise Invalid(error_messages["token_required"], fields={"payment_token": ["This field is required."]})


def checkout_begin(
    *, hold_id: int, user_id: int, idempotency_key: str, payment_token: object, now: datetime | None = None
) -> _Begun:
    """Step 1: settle the idempotency key and mark the hold as being paid."""
    now = now or timezone.now()
    try:
        with locked_atomic(busy=checkout_in_progress()):
            hold = (
                Hold.objects.select_for_update(of=("self",))
                .select_related("event")
                .filter(pk=hold_id, user_id=user_id)
                .first()
            )
            if hold is None:
                raise hold_not_found()
            checkout_input_check(idempotency_key=idempotency_key, payment_token=payment_token)
            payment = Payment.objects.filter(user_id=user_id, idempotency_key=idempotency_key).first()
            if payment is not None:
                if payment.hold_id != hold.id:
                    raise Invalid(error_messages["key_reused"])
                if payment.order_id is not None:
                    return _Begun(order=Order.objects.get(pk=payment.order_id))
                if payment.status == Payment.Status.IN_PROGRESS:
                    if hold.paying_until is not None and hold.paying_until > now:
                        raise checkout_in_progress()
                    return _Begun(stale_payment_id=payment.id)
                if payment.status == Payment.Status.VOIDING:
                    return _Begun(stale_payment_id=payment.id)  # its capture is given back before a new attempt
            if hold.status == Hold.Status.CHECKED_OUT:
                raise already_checked_out()
            if hold.public_status(now=now) != Hold.Status.ACTIVE:
                raise hold_expired()
            if hold.paying_until is not None and hold.paying_until > now:
                raise checkout_in_progress()
            paying_until = now + timedelta(seconds=float(settings.PAYMENT_TIMEOUT_SECONDS) + PAYING_MARGIN_SECONDS)
            _hold_paying_set(hold=hold, paying_until=paying_until, now=now)
            if payment is None:
                payment = Payment.objects.create(
                    user_id=user_id,
                    hold=hold,
                    idempotency_key=idempotency_key,
                    amount=hold.total,
                    currency=hold.event.currency,
                )
            else:
                payment.attempt += 1
                payment.status = Payment.Status.IN_PROGRESS
                payment.error = ""
                payment.save(update_fields=["attempt", "status", "error", "updated_at"])
            return _Begun(payment=payment)
    except IntegrityError:
        # The same key raced in for another of the person's holds.
        raise checkout_in_progress() from None


def _hold_of(payment_id: int) -> Subquery:
    """The payment's hold id, as a subquery: the hold is locked first (the lock order) in the same statement."""
    return Subquery(Payment.objects.filter(pk=payment_id).values("hold_id"))


def checkout_fail(*, payment_id: int, payment_status: str, error: str) -> None:
    """Undo ``checkout_begin`` after a decline or a gateway failure: the hold stays as it was."""
    with locked_atomic(busy=checkout_in_progress()):
        hold = Hold.objects.select_for_update().get(pk=_hold_of(payment_id))
        if hold.status == Hold.Status.ACTIVE and hold.paying_until is not None:
            _hold_paying_set(hold=hold, paying_until=None, now=timezone.now())
        Payment.objects.filter(pk=payment_id, status=Payment.Status.IN_PROGRESS).update(
            status=payment_status, error=error[:300], updated_at=timezone.now()
        )


def ticket_code() -> str:
    """An unguessable ticket code: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


#: The sale, written in one statement: the order, its tickets, the seats
#: sold, the hold checked out, the payment paid, the confirmation queued.
_SALE_SQL = """
WITH new_order AS (
    INSERT INTO reservations_order (event_id, user_id, hold_id, status, total, currency, created_at, updated_at)
    VALUES (%(event)s, %(user)s, %(hold)s, 'paid', %(total)s, %(currency)s, %(now)s, %(now)s)
    RETURNING id
), new_tickets AS (
    INSERT INTO reservations_ticket (order_id, event_id, user_id, seat_id, code, price, status, created_at)
    SELECT new_order.id, %(event)s, %(user)s, seat.id, seat.code, seat.price, 'valid', %(now)s
    FROM new_order, unnest(%(seat_ids)s::bigint[], %(codes)s::text[], %(prices)s::int[]) AS seat(id, code, price)
    RETURNING id, seat_id
), sold AS (
    UPDATE reservations_seat SET status = 'sold', held_until = NULL WHERE id = ANY(%(seat_ids)s)
), checked_out AS (
    UPDATE reservations_hold SET status = 'checked_out', paying_until = NULL, updated_at = %(now)s WHERE id = %(hold)s
), paid AS (
    UPDATE reservations_payment
    SET status = 'paid', charge_id = %(charge)s, order_id = (SELECT id FROM new_order), updated_at = %(now)s
    WHERE id = %(payment)s
), outbox AS (
    INSERT INTO reservations_confirmation (order_id, status, "to", attempts, last_error, created_at, updated_at)
    SELECT id, 'pending', %(to)s, 0, '', %(now)s, %(now)s FROM new_order
)
SELECT new_order.id, new_tickets.id, new_tickets.seat_id FROM new_order, new_tickets
"""


@dataclass
class _Sale:
    order: Order
    tickets: list[Ticket] | None  # None: sold earlier, by another run (read them from the database)


def checkout_finish(*, payment_id: int, charge: Charge) -> Order | None:
    """Step 3: sell the seats and write the order; ``None`` when the hold was lost."""
    sale = _sale_write(payment_id=payment_id, charge=charge)
    return None if sale is None else sale.order


def _sale_write(*, payment_id: int, charge: Charge) -> _Sale | None:
    """``checkout_finish``, returning the tickets it wrote too (the answer needs no re-read)."""
    with locked_atomic(busy=checkout_in_progress()):
        hold = Hold.objects.select_for_update(of=("self",)).select_related("event", "user").get(pk=_hold_of(payment_id))
        payment = Payment.objects.select_for_update().get(pk=payment_id)  # lock order: hold, then its payment
        if payment.status == Payment.Status.PAID:
            return _Sale(order=Order.objects.get(pk=payment.order_id), tickets=None)  # reconciliation sold it already
        seats = list(
            Seat.objects.select_for_update(of=("self",))
            .filter(id__in=hold.seat_ids)
            .order_by("id")
            .values_list("id", "status", "hold_id", "section", "row", "number", "grade__code", "grade__price")
        )
        ours = len(seats) == len(hold.seat_ids) and all(s[1] == Seat.Status.HELD and s[2] == hold.id for s in seats)
        if payment.status != Payment.Status.IN_PROGRESS or hold.status != Hold.Status.ACTIVE or not ours:
            Payment.objects.filter(pk=payment_id).update(charge_id=charge.id, error="hold lost during payment")
            return None  # the caller gives the charge back
        now = timezone.now()
        codes = [ticket_code() for _ in seats]
        params = {
            "event": hold.event_id,
            "user": hold.user_id,
            "hold": hold.id,
            "total": hold.total,
            "currency": hold.event.currency,
            "now": now,
            "seat_ids": [s[0] for s in seats],
            "codes": codes,
            "prices": [s[7] for s in seats],
            "charge": charge.id,
            "payment": payment_id,
            "to": hold.user.email,
        }
        with connection.cursor() as cursor:
            cursor.execute(_SALE_SQL, params)
            written = cursor.fetchall()
        order = Order(
            id=written[0][0],
            event=hold.event,
            user_id=hold.user_id,
            hold_id=hold.id,
            status=Order.Status.PAID,
            total=hold.total,
            currency=hold.event.currency,
            created_at=now,
            updated_at=now,
        )
        order._state.adding = False
        order._state.db = "default"
        ticket_ids = {seat_id: ticket_id for _, ticket_id, seat_id in written}
        tickets = [
            Ticket(
                id=ticket_ids[seat_id],
                order_id=order.id,
                event_id=hold.event_id,
                user_id=hold.user_id,
                code=code,
                price=price,
                status=Ticket.Status.VALID,
                created_at=now,
                seat=Seat(
                    id=seat_id,
                    section=section,
                    row=row,
                    number=number,
                    status=Seat.Status.SOLD,
                    grade=PriceGrade(code=grade, price=price),
                ),
            )
            for (seat_id, _, _, section, row, number, grade, price), code in zip(seats, codes, strict=True)
        ]
        event, user_id, order_id = hold.event, hold.user_id, order.id
        transaction.on_commit(lambda: _after_sale(event=event, user_id=user_id, order_id=order_id))
        return _Sale(order=order, tickets=tickets)


def _after_sale(*, event: Event, user_id: int, order_id: int) -> None:
    """After the sale commits: ``order_paid`` goes out (the queue gives the
    place to the next person) and the confirmation is queued. Neither may
    turn a sale that has happened into an error: a receiver or a broker that
    fails is logged, and the confirmation row (the outbox) is still sent by
    the beat job ``confirmations_sweep``."""
    sent = order_paid.send_robust(Order, order_id=order_id, event=event, event_id=event.id, user_id=user_id)
    for receiver, result in sent:
        if isinstance(result, Exception):
            logger.error("order_paid receiver %r failed for order %s", receiver, order_id, exc_info=result)
    confirmations_kick()


#: ``payment_reconcile`` outcomes that leave a debt or a question open.
UNSETTLED_OUTCOMES = frozenset({"gateway_unavailable", "void_failed", "refund_failed"})


def payment_reconcile(*, payment_id: int) -> str:
    """Settle a payment nobody finished: the process that charged it died, or
    a void or refund is still owed. Asks the gateway what happened and
    either completes the sale (the hold is still ours: order, tickets,
    e-mail) or gives the money back. Returns the outcome, for the metric
    ``ticketing_payments_reconciled_total{outcome}``."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status == Payment.Status.VOIDING:
        return "voided" if payment_void(payment_id=payment_id) else "void_failed"
    if payment.status == Payment.Status.REFUNDING:
        return "refunded" if payment_refund(payment_id=payment_id) else "refund_failed"
    if payment.status != Payment.Status.IN_PROGRESS:
        return "settled"
    try:
        state = payment_gateway().charge_status(idempotency_key=payment.charge_key)
    except PaymentError:
        return "gateway_unavailable"
    if state == CAPTURED:
        charge = Charge(id=payment.charge_id or payment.charge_key, amount=payment.amount, currency=payment.currency)
        if checkout_finish(payment_id=payment_id, charge=charge) is not None:
            return "completed"
        return "voided" if payment_void(payment_id=payment_id) else "void_failed"
    done = Payment.Status.VOIDED if state == VOIDED else Payment.Status.FAILED
    checkout_fail(payment_id=payment_id, payment_status=done, error="no capture found by reconciliation")
    return "failed"


def checkout(*, hold_id: int, user_id: int, payment_token: object, idempotency_key: str) -> CheckoutResult:
    """Pay for a hold. A replayed key returns the first order (``created`` False).

    A replay of a key whose earlier run died mid-payment first settles that
    run (``payment_reconcile``: its capture becomes the sale, or is voided)."""
    begun = checkout_begin(
        hold_id=hold_id, user_id=user_id, idempotency_key=idempotency_key, payment_token=payment_token
    )
    if begun.stale_payment_id is not None:
        if payment_reconcile(payment_id=begun.stale_payment_id) in UNSETTLED_OUTCOMES:
            raise payment_unavailable()
        begun = checkout_begin(
            hold_id=hold_id, user_id=user_id, idempotency_key=idempotency_key, payment_token=payment_token
        )
        if begun.stale_payment_id is not None:
            raise checkout_in_progress()
    if begun.order is not None:
        return CheckoutResult(order=begun.order, created=False)
    payment = begun.payment
    assert payment is not None
    try:
        charge = payment_gateway().charge(
            token=payment_token, amount=payment.amount, currency=payment.currency, idempotency_key=payment.charge_key
        )
    except PaymentDeclined as exc:
        checkout_fail(payment_id=payment.id, payment_status=Payment.Status.DECLINED, error=str(exc))
        raise ApplicationError(
            "payment_declined", error_messages["payment_declined"], status_code=status.HTTP_402_PAYMENT_REQUIRED
        ) from None
    except PaymentError as exc:
        # Whatever a timed-out call may have captured is given back before the key can be retried.
        checkout_fail(payment_id=payment.id, payment_status=Payment.Status.VOIDING, error=str(exc))
        payment_void(payment_id=payment.id)
        raise payment_unavailable() from None
    try:
        sale = _sale_write(payment_id=payment.id, charge=charge)
    except Busy:
        payment_void(payment_id=payment.id)
        checkout_fail(payment_id=payment.id, payment_status=Payment.Status.FAILED, error="busy after charge; voided")
        raise
    if sale is None:
        payment_void(payment_id=payment.id)
        raise hold_expired()
    return CheckoutResult(order=sale.order, created=True, tickets=sale.tickets)
