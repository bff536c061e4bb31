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

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy
from psycopg import errors as pg_errors
from rest_framework import status

from core.coalesce import LoopBatch
from core.errors import ApplicationError, Invalid
from core.metrics import outcomes_counted
from core.pg import sync_db
from reservations.errors import (
    already_checked_out,
    checkout_in_progress,
    error_messages,
    hold_expired,
    hold_not_found,
    payment_unavailable,
)
from reservations.locking import Busy, locked_atomic, locked_fetch_async
from reservations.metrics import checkouts_total
from reservations.models import Event, Order, Payment, PriceGrade, Seat, Ticket, payment_charge_key
from reservations.orders import confirmations_kick
from reservations.payments import CAPTURED, VOIDED, Charge, PaymentDeclined, PaymentError, payment_gateway
from reservations.selectors import event_for_booking, event_for_booking_async
from reservations.settlement import payment_void
from reservations.signals import order_paid

logger = logging.getLogger(__name__)

#: Added to ``PAYMENT_TIMEOUT_SECONDS``: how long a paying hold is safe from expiry.
PAYING_MARGIN_SECONDS = 30


@dataclass
class CheckoutResult:
    order: Order
    created: bool
    tickets: list[Ticket] | None = None  # the tickets just written, with their seats (None on a replay)


@dataclass(frozen=True)
class Paying:
    """A payment ``checkout_begin`` marked in progress: what the gateway call needs."""

    id: int
    attempt: int
    amount: int
    currency: str
    seats: int

    @property
    def charge_key(self) -> str:
        return payment_charge_key(self.id, self.attempt)


@dataclass(frozen=True)
class Begun:
    payment: Paying | None = None
    order_id: int | None = None  # a replay of a paid key: its order
    stale_payment_id: int | None = None  # an earlier run of this key died mid-payment: reconcile it first


@dataclass(frozen=True)
class Sale:
    order: Order
    tickets: list[Ticket] | None  # None: sold earlier, by another run (read them from the database)


def checkout_input_error(*, idempotency_key: str, payment_token: object) -> Invalid | None:
    """400 ``invalid`` for a missing or oversized key or a missing card token
    (answered after the hold's 404: the contract's error order)."""
    if not idempotency_key or len(idempotency_key) > 255:
        return Invalid(error_messages["key_required"])
    if not isinstance(payment_token, str) or not payment_token:
        return Invalid(
            error_messages["token_required"], fields={"payment_token": [gettext_lazy("This field is required.")]}
        )
    return None


#: Step 1 in one round trip: ``booking_checkout_begin`` (``reservations/sql/booking_v1.sql``).
BEGIN_SQL = (
    "SELECT * FROM booking_checkout_begin(%s::bigint, %s::bigint, %s::text, %s::boolean,"
    " %s::timestamptz, %s::timestamptz)"
)


def begin_sql_params(*, hold_id: int, user_id: int, idempotency_key: str, payment_token: object, now: datetime) -> list:
    """``BEGIN_SQL``'s parameters: the hold is safe from expiry for the
    gateway's timeout and a margin. An id no hold can have (hold ids are
    positive bigints) is 404 here, before PostgreSQL refuses the cast."""
    if not 0 < hold_id < 2**63:
        raise hold_not_found()
    input_ok = checkout_input_error(idempotency_key=idempotency_key, payment_token=payment_token) is None
    paying_until = now + timedelta(seconds=float(settings.PAYMENT_TIMEOUT_SECONDS) + PAYING_MARGIN_SECONDS)
    return [hold_id, user_id, idempotency_key if input_ok else "", input_ok, now, paying_until]


def begun_from_row(row: tuple, *, idempotency_key: str, payment_token: object) -> Begun:
    """``booking_checkout_begin``'s answer: the contract's error, or what to do next."""
    outcome, payment_id, attempt, amount, currency, order_id, seats = row
    if outcome == "paying":
        return Begun(payment=Paying(id=payment_id, attempt=attempt, amount=amount, currency=currency, seats=seats))
    if outcome == "paid_before":
        return Begun(order_id=order_id)
    if outcome == "stale":
        return Begun(stale_payment_id=payment_id)
    if outcome == "invalid":
        raise checkout_input_error(idempotency_key=idempotency_key, payment_token=payment_token)
    raise {
        "not_found": hold_not_found,
        "key_reused": lambda: Invalid(error_messages["key_reused"]),
        "already_checked_out": already_checked_out,
        "hold_expired": hold_expired,
        "in_progress": checkout_in_progress,
    }[outcome]()


def checkout_begin(
    *, hold_id: int, user_id: int, idempotency_key: str, payment_token: object, now: datetime | None = None
) -> Begun:
    """Step 1: settle the idempotency key and mark the hold as being paid."""
    params = begin_sql_params(
        hold_id=hold_id,
        user_id=user_id,
        idempotency_key=idempotency_key,
        payment_token=payment_token,
        now=now or timezone.now(),
    )
    try:
        with locked_atomic(busy=checkout_in_progress()), connection.cursor() as cursor:
            cursor.execute(BEGIN_SQL, params)
            row = cursor.fetchone()
    except IntegrityError:
        # The same key raced in for another of the person's holds.
        raise checkout_in_progress() from None
    return begun_from_row(row, idempotency_key=idempotency_key, payment_token=payment_token)


#: Undo step 1 in one round trip: ``booking_checkout_fail``.
FAIL_SQL = "SELECT booking_checkout_fail(%s::bigint, %s::text, %s::text, %s::timestamptz)"


def checkout_fail(*, payment_id: int, payment_status: str, error: str) -> None:
    """Undo ``checkout_begin`` after a decline or a gateway failure: the hold stays as it was."""
    with locked_atomic(busy=checkout_in_progress()), connection.cursor() as cursor:
        cursor.execute(FAIL_SQL, [payment_id, payment_status, error, timezone.now()])


def ticket_codes(count: int) -> list[str]:
    """Unguessable ticket codes: 128 random bits each, URL-safe."""
    return [secrets.token_urlsafe(16) for _ in range(count)]


#: Step 3 in one round trip: ``booking_sale`` (order, tickets, seats sold,
#: hold checked out, payment paid, confirmation queued).
SALE_SQL = "SELECT * FROM booking_sale(%s::bigint, %s::text, %s::text[], %s::timestamptz)"


def sale_from_rows(rows: list[tuple], *, now: datetime) -> tuple[str, Order | None, list[Ticket] | None]:
    """``booking_sale``'s answer: its outcome, the order (``sold``; only its id
    on ``sold_before``) and, for a sale just made, its tickets with their
    seats, so the answer needs no re-read."""
    first = rows[0]
    outcome, order_id, event_id, hold_id, user_id, total, currency = first[:7]
    if outcome == "lost":
        return outcome, None, None
    order = Order(
        id=order_id,
        event_id=event_id,
        user_id=user_id,
        hold_id=hold_id,
        status=Order.Status.PAID,
        total=total,
        currency=currency,
        created_at=now,
        updated_at=now,
    )
    order._state.adding = False
    order._state.db = "default"
    if outcome == "sold_before":
        return outcome, order, None
    tickets = [
        Ticket(
            id=ticket_id,
            order_id=order_id,
            event_id=event_id,
            user_id=user_id,
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
        for *_, ticket_id, code, seat_id, section, row, number, grade, price in rows
    ]
    return outcome, order, tickets


def checkout_finish(*, payment_id: int, charge: Charge) -> Order | None:
    """Step 3: sell the seats and write the order; ``None`` when the hold was lost."""
    sale = _sale_write(payment_id=payment_id, charge=charge)
    return None if sale is None else sale.order


def _sale_write(*, payment_id: int, charge: Charge, seats: int | None = None) -> Sale | None:
    """``checkout_finish``, returning the tickets it wrote too. ``seats`` (how
    many the hold has, from ``checkout_begin``) sizes the ticket codes;
    reconciliation, which does not know it, reads it."""
    if seats is None:
        seats = len(Payment.objects.filter(pk=payment_id).values_list("hold__seat_ids", flat=True).get())
    now = timezone.now()
    with locked_atomic(busy=checkout_in_progress()):
        with connection.cursor() as cursor:
            cursor.execute(SALE_SQL, [payment_id, charge.id, ticket_codes(seats), now])
            outcome, order, tickets = sale_from_rows(cursor.fetchall(), now=now)
        if order is None:
            return None
        if outcome == "sold_before":
            return Sale(order=Order.objects.get(pk=order.id), tickets=None)  # reconciliation sold it already
        sold = order
        transaction.on_commit(
            lambda: after_sale(event=event_for_booking(event_id=sold.event_id), user_id=sold.user_id, order_id=sold.id)
        )
    return Sale(order=order, tickets=tickets)


def after_sale(*, event: Event, user_id: int, order_id: int) -> None:
    """After the sale commits: ``order_paid`` goes out (the queue gives the
    place to the next person) and the confirmation is queued. Neither may
    turn a sale that has happened into an error: a receiver or a broker that
    fails is logged, and the confirmation row (the outbox) is still sent by
    the beat job ``confirmations_sweep``."""
    _order_paid_send(event=event, user_id=user_id, order_id=order_id)
    confirmations_kick()


#: How long the event loop's sales wait to go out to ``after_sale`` together.
AFTER_SALE_BATCH_SECONDS = 0.05


async def _after_sales(sales: list[tuple[Event, int, int]]) -> None:
    """``after_sale`` for a tick's sales: every ``order_paid`` and one kick of
    the mail worker, in one worker thread (the receivers are sync code)."""
    await sync_to_async(_after_sales_sync, thread_sensitive=False)(sales)


def _after_sales_sync(sales: list[tuple[Event, int, int]]) -> None:
    for event, user_id, order_id in sales:
        _order_paid_send(event=event, user_id=user_id, order_id=order_id)
    confirmations_kick()


_sold: LoopBatch[tuple[Event, int, int]] = LoopBatch(AFTER_SALE_BATCH_SECONDS, _after_sales)


async def after_sale_async(*, event: Event, user_id: int, order_id: int) -> None:
    """``after_sale`` on the event loop, within ``AFTER_SALE_BATCH_SECONDS``:
    the sales of a tick share one thread hop and one kick (``core.coalesce``;
    a thread per sale was a tenth of a web worker's CPU in
    ``bench/orders.py``). A process that dies holding them loses nothing
    that stays lost: the outbox sweep sends the confirmations, and a buyer's
    admission lapses at the end of its window."""
    _sold.add((event, user_id, order_id))


def _order_paid_send(*, event: Event, user_id: int, order_id: int) -> None:
    sent = order_paid.send_robust(Order, order_id=order_id, event=event, event_id=event.id, user_id=user_id)
    for receiver, result in sent:
        if isinstance(result, Exception):
            logger.error("order_paid receiver %r failed for order %s", receiver, order_id, exc_info=result)


#: ``payment_reconcile`` outcomes that leave a debt or a question open.
UNSETTLED_OUTCOMES = frozenset({"gateway_unavailable", "void_failed"})


def payment_reconcile(*, payment_id: int) -> str:
    """Settle a payment nobody finished: the process that charged it died, or
    a void is still owed. Asks the gateway what happened and either
    completes the sale (the hold is still ours: order, tickets, e-mail) or
    gives the money back. Returns the outcome, for the metric
    ``ticketing_payments_reconciled_total{outcome}``. (Refunds after a sale
    are ``Refund`` rows, settled by ``reservations.settlement.refund_settle``.)"""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status == Payment.Status.VOIDING:
        return "voided" if payment_void(payment_id=payment_id) else "void_failed"
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


def _declined(payment: Paying, exc: PaymentError) -> ApplicationError:
    """After a decline: undo step 1; the error to answer (402)."""
    checkout_fail(payment_id=payment.id, payment_status=Payment.Status.DECLINED, error=str(exc))
    return ApplicationError(
        "payment_declined", error_messages["payment_declined"], status_code=status.HTTP_402_PAYMENT_REQUIRED
    )


def _gateway_failed(payment: Paying, exc: PaymentError) -> ApplicationError:
    """After a gateway failure: whatever a timed-out call may have captured is
    given back before the key can be retried; the error to answer (502)."""
    checkout_fail(payment_id=payment.id, payment_status=Payment.Status.VOIDING, error=str(exc))
    payment_void(payment_id=payment.id)
    return payment_unavailable()


def _sale_busy(payment: Paying, exc: Busy) -> Busy:
    """The sale could not lock its rows in time: the charge is given back."""
    payment_void(payment_id=payment.id)
    checkout_fail(payment_id=payment.id, payment_status=Payment.Status.FAILED, error="busy after charge; voided")
    return exc


def _hold_lost(payment: Paying) -> ApplicationError:
    """The hold lapsed or was released during the payment: the charge is given back (410)."""
    payment_void(payment_id=payment.id)
    return hold_expired()


def _checkout_result(result: CheckoutResult | None) -> str | None:
    """The ``ticketing_checkouts_total`` label of a checkout that returned
    (None: the fast path handed it to ``checkout``, which counts it)."""
    if result is None:
        return None
    return "paid" if result.created else "replayed"


@outcomes_counted(checkouts_total, ok=_checkout_result)
def checkout(*, hold_id: int, user_id: int, payment_token: object, idempotency_key: str) -> CheckoutResult:
    """Pay for a hold. A replayed key returns the first order (``created`` False).

    A replay of a key whose earlier run died mid-payment first settles that
    run (``payment_reconcile``: its capture becomes the sale, or is voided).
    ``checkout_async`` is the same sequence on the event loop."""
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
    if begun.order_id is not None:
        return CheckoutResult(order=Order.objects.get(pk=begun.order_id), created=False)
    payment = begun.payment
    assert payment is not None
    try:
        charge = payment_gateway().charge(
            token=payment_token, amount=payment.amount, currency=payment.currency, idempotency_key=payment.charge_key
        )
    except PaymentDeclined as exc:
        raise _declined(payment, exc) from None
    except PaymentError as exc:
        raise _gateway_failed(payment, exc) from None
    try:
        sale = _sale_write(payment_id=payment.id, charge=charge, seats=payment.seats)
    except Busy as exc:
        raise _sale_busy(payment, exc) from None
    if sale is None:
        raise _hold_lost(payment)
    return CheckoutResult(order=sale.order, created=True, tickets=sale.tickets)


@outcomes_counted(checkouts_total, ok=_checkout_result)
async def checkout_async(
    *, hold_id: int, user_id: int, payment_token: str, idempotency_key: str
) -> CheckoutResult | None:
    """``checkout`` on the event loop, for the booking fast path: step 1 and
    the sale are the same stored functions (one round trip each, no thread),
    the charge is the gateway's ``charge_async``; the rare endings (decline,
    gateway failure, a lost hold) run the same synchronous helpers in a
    thread. None, with nothing written, for a replayed key (its order, or an
    earlier run to reconcile first): the caller lets ``checkout`` answer."""
    params = begin_sql_params(
        hold_id=hold_id,
        user_id=user_id,
        idempotency_key=idempotency_key,
        payment_token=payment_token,
        now=timezone.now(),
    )
    try:
        rows = await locked_fetch_async(BEGIN_SQL, params, busy=checkout_in_progress())
    except pg_errors.UniqueViolation:
        raise checkout_in_progress() from None  # the same key raced in for another of the person's holds
    payment = begun_from_row(rows[0], idempotency_key=idempotency_key, payment_token=payment_token).payment
    if payment is None:
        return None
    try:
        charge = await payment_gateway().charge_async(
            token=payment_token, amount=payment.amount, currency=payment.currency, idempotency_key=payment.charge_key
        )
    except PaymentDeclined as exc:
        raise await sync_db(_declined)(payment, exc) from None
    except PaymentError as exc:
        raise await sync_db(_gateway_failed)(payment, exc) from None
    now = timezone.now()
    params = [payment.id, charge.id, ticket_codes(payment.seats), now]
    try:
        rows = await locked_fetch_async(SALE_SQL, params, busy=checkout_in_progress())
    except Busy as exc:
        raise await sync_db(_sale_busy)(payment, exc) from None
    outcome, order, tickets = sale_from_rows(rows, now=now)
    if order is None:
        raise await sync_db(_hold_lost)(payment)
    if outcome == "sold_before":
        return CheckoutResult(order=await sync_db(Order.objects.get)(pk=order.id), created=True)
    event = await event_for_booking_async(event_id=order.event_id)
    await after_sale_async(event=event, user_id=order.user_id, order_id=order.id)
    return CheckoutResult(order=order, created=True, tickets=tickets)
