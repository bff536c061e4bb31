"""Orders and tickets: only the person's own; refunds put the seats back on sale."""

from __future__ import annotations

import pytest

from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Order, Payment, Seat, Ticket
from reservations.payments import TestGateway
from reservations.refunds import order_refund
from tests.reservations.conftest import seat_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(event, user):
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    return checkout(hold_id=hold.id, user_id=user.id, payment_token="tok_ok", idempotency_key="k").order


def test_orders_and_tickets_list_only_ones_own(auth_client, other_client, order, event):
    mine = auth_client.get("/api/orders/").json()
    assert [o["id"] for o in mine] == [order.id]
    assert other_client.get("/api/orders/").json() == []
    detail = auth_client.get(f"/api/orders/{order.id}/")
    assert detail.status_code == 200 and len(detail.json()["tickets"]) == 2
    response = other_client.get(f"/api/orders/{order.id}/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    tickets = auth_client.get("/api/tickets/").json()
    assert len(tickets) == 2 and all(t["event"] == event.id and len(t["code"]) >= 16 for t in tickets)
    assert {"id", "code", "event", "seat"} <= set(tickets[0])
    assert other_client.get("/api/tickets/").json() == []


def test_order_lists_need_login(api_client):
    assert api_client.get("/api/orders/").status_code == 401
    assert api_client.get("/api/tickets/").status_code == 401


def test_refund_voids_tickets_frees_seats_and_refunds_the_charge(order, event, make_user):
    order_refund(order_id=order.id)
    assert Order.objects.get(pk=order.pk).status == "refunded"
    assert set(Ticket.objects.filter(order=order).values_list("status", flat=True)) == {"void"}
    ids = list(Ticket.objects.filter(order=order).values_list("seat_id", flat=True))
    assert Seat.objects.filter(id__in=ids, status="available").count() == 2
    assert [c["status"] for c in TestGateway.charges().values()] == ["refunded"]
    assert Payment.objects.get(order=order).status == "refunded"
    again = hold_create(event=event, user_id=make_user("bob").id, seat_ids=ids)  # back on sale
    assert again.status == "active"
    order_refund(order_id=order.id)  # twice is harmless
    assert Order.objects.get(pk=order.pk).status == "refunded"


def test_a_seat_cannot_be_in_two_valid_tickets(order):
    from django.db import IntegrityError, transaction

    ticket = Ticket.objects.filter(order=order).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.create(order=order, event=order.event, user=order.user, seat=ticket.seat, code="y" * 22, price=1)
