"""Admin: holds and orders searchable per event; release and refund actions free the seats."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Confirmation, Hold, Order, Seat
from reservations.orders import order_confirmation_send
from tests.reservations.conftest import seat_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    client.force_login(admin)
    return client


def test_holds_are_searchable_by_event_and_released_by_an_action(admin_client, event, make_event, user):
    other = make_event()
    other.name = "Other gig"
    other.save()
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    hold_create(event=other, user_id=user.id, seat_ids=seat_ids(other)[:1])
    page = admin_client.get("/admin/reservations/hold/", {"event__id__exact": event.id, "q": "alice"})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    response = admin_client.post(
        "/admin/reservations/hold/", {"action": "release_holds", "_selected_action": [hold.id]}, follow=True
    )
    assert response.status_code == 200
    assert Hold.objects.get(pk=hold.pk).status == "released"
    assert Seat.objects.filter(id__in=hold.seat_ids, status="available").count() == 2


def test_orders_are_searchable_and_refunded_by_an_action(admin_client, event, user):
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    order = checkout(hold_id=hold.id, user_id=user.id, payment_token="tok_ok", idempotency_key="k").order
    page = admin_client.get("/admin/reservations/order/", {"q": "Show"})
    assert page.status_code == 200 and page.context["cl"].result_count == 1
    assert admin_client.get(f"/admin/reservations/order/{order.id}/change/").status_code == 200
    admin_client.post("/admin/reservations/order/", {"action": "refund_orders", "_selected_action": [order.id]})
    assert Order.objects.get(pk=order.pk).status == "refunded"
    assert Seat.objects.filter(id__in=hold.seat_ids, status="available").count() == 2
    for path in ("payment", "confirmation"):
        assert admin_client.get(f"/admin/reservations/{path}/").status_code == 200


def test_failed_confirmations_are_listed_and_sent_again_by_an_action(admin_client, event, user):
    user.email = "alice@example.com"
    user.save()
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:1])
    order = checkout(hold_id=hold.id, user_id=user.id, payment_token="tok_ok", idempotency_key="resend").order
    Confirmation.objects.filter(order=order).update(status="failed", attempts=6, last_error="SMTPServerDisconnected")
    page = admin_client.get("/admin/reservations/confirmation/", {"status__exact": "failed"})
    assert page.status_code == 200 and "SMTPServerDisconnected" in page.content.decode()

    admin_client.post(
        "/admin/reservations/confirmation/",
        {"action": "resend_confirmations", "_selected_action": [Confirmation.objects.get(order=order).pk]},
    )
    again = Confirmation.objects.get(order=order)
    assert again.status == "pending" and again.attempts == 0 and again.last_error == ""
    mail.outbox = []
    assert order_confirmation_send(order_id=order.id) is True  # what the queued task or the sweep does next
    assert len(mail.outbox) == 1 and Confirmation.objects.get(order=order).status == "sent"
