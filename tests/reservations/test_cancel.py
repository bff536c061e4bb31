"""Cancellation and refunds: the buyer cancels a whole order until the
event's deadline, the organizer refunds orders or single tickets; tickets
void, seats back on sale (and in the shared seat status), the refund paid
through the gateway once, whatever the gateway does."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from core.redis import get_redis
from reservations import seat_status
from reservations.checkin import ticket_check_in
from reservations.models import Event, Order, Payment, Refund, Seat, Ticket
from reservations.payments import TestGateway
from reservations.reconciliation import payments_reconcile
from reservations.refunds import order_refund, tickets_refund
from tests.reservations.conftest import admit, client_for
from tests.reservations.test_checkin import buy

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(make_event: Any) -> Event:
    return make_event(cancel_hours=24)


@pytest.fixture
def order(event: Event, user: Any) -> Order:
    return buy(event, user)


def cancel(client: Any, order_id: int) -> Any:
    return client.post(f"/api/orders/{order_id}/cancel/")


def _state(order: Order) -> tuple:
    """Everything a cancellation may change."""
    return (
        Order.objects.get(pk=order.pk).status,
        list(Ticket.objects.filter(order=order).order_by("id").values_list("status", "refund_id")),
        list(Seat.objects.filter(tickets__order=order).order_by("id").values_list("status", flat=True)),
        list(Payment.objects.filter(order=order).values_list("status", flat=True)),
        Refund.objects.count(),
        TestGateway.charges(),
    )


def _charge() -> dict:
    (charge,) = TestGateway.charges().values()
    return charge


def test_the_buyer_cancels_a_whole_order_once(order, auth_client, event, make_user):
    seats = list(order.tickets.values_list("seat_id", flat=True))

    response = cancel(auth_client, order.id)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == order.id and body["status"] == "refunded"
    assert {t["status"] for t in body["tickets"]} == {"void"}
    assert [(r["amount"], r["status"], r["reason"]) for r in body["refunds"]] == [(order.total, "refunded", "buyer")]
    assert Seat.objects.filter(id__in=seats, status="available").count() == 2
    assert Payment.objects.get(order=order).status == "refunded"
    charge = _charge()
    assert charge["status"] == "refunded" and charge["refunded"] == order.total and len(charge["refunds"]) == 1

    before = _state(order)
    again = cancel(auth_client, order.id)
    assert again.status_code == 200 and again.json()["status"] == "refunded"
    assert _state(order) == before  # nothing more happened
    bob = make_user("bob")
    admit(event, bob.id)
    assert client_for(bob).post(f"/api/events/{event.id}/holds/", {"seat_ids": seats}, format="json").status_code == 201


def test_another_persons_order_is_404_and_unchanged(order, other_client):
    before = _state(order)
    response = cancel(other_client, order.id)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert _state(order) == before


@pytest.mark.parametrize("order_id", [0, 999_999, 2**63, 10**30])
def test_no_such_order_is_404(auth_client, order, order_id):
    before = _state(order)
    response = cancel(auth_client, order_id)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert _state(order) == before


def test_cancelling_needs_a_login(api_client, order):
    assert api_client.post(f"/api/orders/{order.id}/cancel/").status_code == 401


@pytest.mark.parametrize("cancel_until", [timedelta(seconds=-1), None])
def test_after_the_deadline_or_without_one_is_409_cancel_closed(order, auth_client, event, cancel_until):
    Event.objects.filter(pk=event.pk).update(cancel_until=cancel_until and timezone.now() + cancel_until)
    time.sleep(1.05)  # the booking cache keeps an event a second
    before = _state(order)

    response = cancel(auth_client, order.id)

    assert response.status_code == 409 and response.json()["error"] == "cancel_closed"
    assert _state(order) == before


def test_an_order_with_a_checked_in_ticket_cannot_be_cancelled(order, auth_client, make_user):
    gate = make_user("gate")
    ticket_check_in(code=order.tickets.first().code, by_user_id=gate.id)
    before = _state(order)

    response = cancel(auth_client, order.id)

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "already_checked_in" and body["checked_in_at"]
    assert _state(order) == before


def test_a_body_is_ignored_and_a_huge_one_refused(order, auth_client):
    before = _state(order)
    response = auth_client.post(
        f"/api/orders/{order.id}/cancel/", '{"x": "' + "a" * 3_000_000 + '"}', content_type="application/json"
    )
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert _state(order) == before
    response = auth_client.post(f"/api/orders/{order.id}/cancel/", "[[[[[[[[[[", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert _state(order) == before


@pytest.mark.django_db(transaction=True)  # the status snapshot reads on its own connection
def test_returned_seats_show_in_the_seat_status_and_its_version_moves(make_event, user, auth_client):
    order = buy(make_event("A:10x20:R:1000", cancel_hours=24), user)  # big enough for a change list
    seats = set(order.tickets.values_list("seat_id", flat=True))
    before = seat_status.snapshot_get(event_id=order.event_id)
    layout = seat_status.layout_get(event_id=order.event_id).seat_ids
    assert {before.statuses[layout.index(i)] for i in seats} == {"s"}

    assert cancel(auth_client, order.id).status_code == 200
    time.sleep(0.3)  # past SEAT_STATUS_MAX_AGE_SECONDS

    after = seat_status.snapshot_get(event_id=order.event_id)
    assert after.version > before.version
    assert {after.statuses[layout.index(i)] for i in seats} == {"a"}
    changes = seat_status.status_answer(event_id=order.event_id, since=before.version).body["changes"]
    assert sorted(changes) == sorted([seat_id, "available"] for seat_id in seats)


def test_the_organizer_refunds_single_tickets_then_the_rest(order, make_user):
    first, second = order.tickets.order_by("id")
    organizer = make_user("organizer")

    (returned,) = tickets_refund(ticket_ids=[first.id], by_user_id=organizer.id)

    assert returned.ticket_ids == [first.id]
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert list(order.tickets.order_by("id").values_list("status", flat=True)) == ["void", "valid"]
    assert (
        Seat.objects.get(pk=first.seat_id).status == "available"
        and Seat.objects.get(pk=second.seat_id).status == "sold"
    )
    assert Payment.objects.get(order=order).status == "paid"
    charge = _charge()
    assert charge["status"] == "captured" and charge["refunded"] == first.price
    refund = Refund.objects.get()
    assert (refund.amount, refund.status, refund.reason, refund.requested_by_id) == (
        first.price,
        "refunded",
        "organizer",
        organizer.id,
    )

    order_refund(order_id=order.id, by_user_id=organizer.id)

    assert Order.objects.get(pk=order.pk).status == "refunded"
    assert sorted(Refund.objects.values_list("amount", flat=True)) == sorted([first.price, order.total - first.price])
    assert Payment.objects.get(order=order).status == "refunded"
    charge = _charge()
    assert charge["status"] == "refunded" and charge["refunded"] == order.total and len(charge["refunds"]) == 2


def test_the_organizer_may_refund_after_the_deadline_but_never_a_used_ticket(order, event, make_user):
    Event.objects.filter(pk=event.pk).update(cancel_until=timezone.now() - timedelta(days=1))
    first, second = order.tickets.order_by("id")
    ticket_check_in(code=first.code, by_user_id=make_user("gate").id)

    with pytest.raises(Exception) as refused:
        tickets_refund(ticket_ids=[first.id])
    assert getattr(refused.value, "code", None) == "already_checked_in"
    (returned,) = tickets_refund(ticket_ids=[second.id])
    assert returned.ticket_ids == [second.id]
    assert list(order.tickets.order_by("id").values_list("status", flat=True)) == ["checked_in", "void"]


@override_settings(PAYMENT_SETTLE_RETRY_SECONDS=0.01)
def test_a_refund_the_gateway_refuses_stays_owed_until_reconciliation_pays_it(order, auth_client):
    get_redis().sadd(TestGateway.OUTAGE_KEY, "refund")

    response = cancel(auth_client, order.id)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "refunded" and body["refunds"][0]["status"] == "pending"
    refund = Refund.objects.get()
    assert refund.gateway_attempts == 1 and refund.next_attempt_at is not None and "refund failed" in refund.error
    assert Payment.objects.get(order=order).status == "refunding"
    assert _charge()["status"] == "captured"
    time.sleep(0.05)
    assert payments_reconcile() == {"refund_failed": 1}

    get_redis().delete(TestGateway.OUTAGE_KEY)
    time.sleep(0.05)
    assert payments_reconcile() == {"refunded": 1}
    assert Refund.objects.get().status == "refunded" and Payment.objects.get(order=order).status == "refunded"
    assert _charge()["status"] == "refunded"
    assert payments_reconcile() == {}


@override_settings(PAYMENT_TIMEOUT_SECONDS=0.3, PAYMENT_SETTLE_RETRY_SECONDS=0.01)
def test_a_refund_whose_answer_was_lost_is_made_once(order, auth_client):
    """The gateway refunds, then its answer never comes (timeout): the refund
    stays owed; the retry carries the same refund key and refunds nothing more."""
    get_redis().hset(TestGateway.DELAYS_KEY, "refund", "0 10")

    assert cancel(auth_client, order.id).status_code == 200

    assert Refund.objects.get().status == "pending"
    charge = _charge()
    assert charge["status"] == "refunded" and len(charge["refunds"]) == 1  # made, but we never heard
    get_redis().delete(TestGateway.DELAYS_KEY)
    time.sleep(0.05)
    assert payments_reconcile() == {"refunded": 1}
    assert Refund.objects.get().status == "refunded"
    charge = _charge()
    assert charge["refunded"] == order.total and len(charge["refunds"]) == 1
