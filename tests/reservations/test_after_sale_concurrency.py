"""Check-in and cancellation under real concurrency: threads, each with its
own connection and transactions. Each race is first shown with its
protection switched off (``CHECKIN_CONDITIONAL_UPDATE``, ``BOOKING_ROW_LOCKS``
and a pause between check and write), then shown closed."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from django.db import IntegrityError
from django.test import override_settings

from core.redis import get_redis
from reservations.checkin import ticket_check_in
from reservations.models import Order, Payment, Refund, Seat, Ticket
from reservations.payments import TestGateway
from reservations.reconciliation import payments_reconcile
from reservations.refunds import order_cancel
from reservations.signals import seats_returned
from tests.reservations.conftest import make_users
from tests.reservations.test_checkin import buy
from tests.reservations.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough for every thread to reach its check before any writes, on a loaded 2-core machine.
PAUSE = 0.6
RACY_SCANS = {"CHECKIN_CONDITIONAL_UPDATE": False, "BOOKING_RACE_PAUSE_SECONDS": PAUSE}
RACY_CANCELS = {"BOOKING_ROW_LOCKS": False, "BOOKING_RACE_PAUSE_SECONDS": PAUSE}
RACY_BOTH = {**RACY_SCANS, **RACY_CANCELS}


@pytest.fixture
def event(make_event: Any) -> Any:
    return make_event("A:4x10:R:1000", cancel_hours=24)


@pytest.fixture
def returns() -> Any:
    """Every ``seats_returned`` sent meanwhile: (order id, seat ids)."""
    sent: list[tuple[int, list[int]]] = []

    def receiver(sender: Any, *, order_id: int, seat_ids: list[int], **kwargs: Any) -> None:
        sent.append((order_id, sorted(seat_ids)))

    seats_returned.connect(receiver, dispatch_uid="test-returns")
    yield sent
    seats_returned.disconnect(dispatch_uid="test-returns")


def _outcome(result: Any) -> str:
    """What one call met: ``ok``, the contract's error code, or the exception's class."""
    if isinstance(result, IntegrityError):
        return "IntegrityError"
    if isinstance(result, Exception):
        return getattr(result, "code", type(result).__name__)
    return "ok"


@pytest.mark.parametrize("conditional", [False, True])
def test_twenty_gates_scan_one_ticket_and_exactly_one_admits(event, user, conditional):
    ticket = buy(event, user, count=1).tickets.get()
    gates = make_users(20, prefix="gate")
    with override_settings(**({} if conditional else RACY_SCANS)):
        results = run_together([lambda g=g: ticket_check_in(code=ticket.code, by_user_id=g.id) for g in gates])
    admitted = [r for r in results if not isinstance(r, Exception)]
    if not conditional:
        assert len(admitted) > 1, "without the conditional update several gates should admit the same ticket"
        return
    assert len(admitted) == 1
    refused = [r for r in results if isinstance(r, Exception)]
    assert Counter(_outcome(r) for r in refused) == {"already_checked_in": 19}
    first = admitted[0].checked_in_at.isoformat()
    assert {r.extra["checked_in_at"] for r in refused} == {first}  # everyone is told the first time
    ticket.refresh_from_db()
    assert ticket.status == "checked_in" and ticket.checked_in_at.isoformat() == first
    assert ticket.checked_in_by_id == admitted[0].ticket.checked_in_by_id


@pytest.mark.parametrize("locked", [False, True])
def test_two_cancels_at_once_refund_once_and_free_the_seats_once(event, user, returns, locked):
    order = buy(event, user)
    seats = sorted(order.tickets.values_list("seat_id", flat=True))
    with override_settings(**({} if locked else RACY_CANCELS)):
        results = run_together([lambda: order_cancel(order_id=order.id, user_id=user.id) for _ in range(2)])
    assert [_outcome(r) for r in results] == ["ok", "ok"]
    if not locked:
        assert Refund.objects.count() == 2, "without the order's lock both cancels should record a refund"
        assert len(returns) == 2
        return
    assert Refund.objects.count() == 1
    assert sorted(len(r.ticket_ids) for r in results) == [0, 2]  # one did it, the other found nothing left
    assert returns == [(order.id, seats)]  # the seats came back once
    assert Seat.objects.filter(id__in=seats, status="available").count() == 2
    (charge,) = TestGateway.charges().values()
    assert charge["status"] == "refunded" and len(charge["refunds"]) == 1 and charge["refunded"] == order.total


@pytest.mark.parametrize("protected", [False, True])
def test_a_cancel_while_a_gate_scans_one_of_its_tickets(event, returns, protected):
    """Ten buyers cancel while a gate scans one of their tickets at that
    instant: one of the two wins; never a refunded order whose ticket
    admitted someone. Unprotected, both pass their checks and only the
    database's constraints keep the ticket from being checked in and void."""
    buyers = make_users(10, prefix="buyer")
    gate = make_users(1, prefix="gate")[0]
    orders = [buy(event, b, count=2, key=f"k{i}") for i, b in enumerate(buyers)]
    outcomes: list[tuple[str, str]] = []
    with override_settings(**({} if protected else RACY_BOTH)):
        for buyer, order in zip(buyers, orders, strict=True):
            code = order.tickets.order_by("id").first().code
            cancelled, scanned = run_together(
                [
                    lambda o=order, b=buyer: order_cancel(order_id=o.id, user_id=b.id),
                    lambda c=code: ticket_check_in(code=c, by_user_id=gate.id),
                ]
            )
            outcomes.append((_outcome(cancelled), _outcome(scanned)))
            if not protected:
                return _assert_race_shown(outcomes)
    allowed = {("ok", "ticket_void"), ("already_checked_in", "ok")}
    assert set(outcomes) <= allowed, outcomes
    for order, (cancelled, _) in zip(orders, outcomes, strict=True):
        statuses = set(order.tickets.values_list("status", flat=True))
        refunds = Refund.objects.filter(order=order).count()
        seats = set(Seat.objects.filter(tickets__order=order).values_list("status", flat=True))
        if cancelled == "ok":
            assert (Order.objects.get(pk=order.pk).status, statuses, refunds, seats) == (
                "refunded",
                {"void"},
                1,
                {"available"},
            )
        else:
            assert (Order.objects.get(pk=order.pk).status, statuses, refunds, seats) == (
                "paid",
                {"checked_in", "valid"},
                0,
                {"sold"},
            )
    assert not Ticket.objects.filter(status="void", checked_in_at__isnull=False).exists()
    assert len(returns) == sum(1 for c, _ in outcomes if c == "ok")


def _assert_race_shown(outcomes: list[tuple[str, str]]) -> None:
    """Unprotected, the cancel and the scan both passed their checks: the
    ticket's last writer hits ``ticket_checked_in_recorded`` or
    ``ticket_refund_only_void`` (a checked-in ticket voided, a voided one
    checked in), and only that constraint stops it."""
    assert "IntegrityError" in outcomes[-1], outcomes


@override_settings(PAYMENT_TIMEOUT_SECONDS=0.5, PAYMENT_SETTLE_RETRY_SECONDS=0.01)
def test_cancels_while_the_refund_call_times_out_refund_once(event, user, returns):
    """The gateway takes the refund but its answer never comes: every cancel
    answers the refunded order, one refund is owed, and reconciliation pays
    it with the same key: the buyer gets the money once."""
    order = buy(event, user)
    get_redis().hset(TestGateway.DELAYS_KEY, "refund", "0 30")  # refunded, then silent past the timeout

    results = run_together([lambda: order_cancel(order_id=order.id, user_id=user.id) for _ in range(3)])

    assert [_outcome(r) for r in results] == ["ok", "ok", "ok"]
    assert Refund.objects.get().status == "pending" and Refund.objects.get().gateway_attempts == 1
    assert len(returns) == 1
    assert Payment.objects.get(order=order).status == "refunding"
    get_redis().delete(TestGateway.DELAYS_KEY)
    time.sleep(0.05)  # past the retry's backoff
    assert payments_reconcile() == {"refunded": 1}
    assert payments_reconcile() == {}
    (charge,) = TestGateway.charges().values()
    assert charge["status"] == "refunded" and charge["refunded"] == order.total
    assert list(charge["refunds"]) == [f"refund-{Refund.objects.get().id}"]
    assert Payment.objects.get(order=order).status == "refunded"
