"""Checkout: happy path, decline, timeout, expiry, idempotent replays, payment voided on a lost hold."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from queue_app.admission import admission_is_active
from reservations.checkout import checkout_begin, checkout_finish
from reservations.holds import hold_create, holds_expire
from reservations.models import Confirmation, Hold, Order, Payment, Seat, Ticket
from reservations.payments import Charge, TestGateway
from tests.reservations.conftest import admit, client_for, seat_ids

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_gateway")]


@pytest.fixture
def fast_gateway(settings):
    settings.PAYMENT_TIMEOUT_SECONDS = 0.4


@pytest.fixture
def hold(event, user):
    return hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])


def _checkout(client, hold_id, token="tok_ok", key="key-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(f"/api/holds/{hold_id}/checkout/", {"payment_token": token}, format="json", **headers)


def _captured():
    return [c for c in TestGateway.charges().values() if c["status"] == "captured"]


def test_checkout_sells_the_seats_and_returns_the_order(auth_client, hold, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _checkout(auth_client, hold.id)
    assert response.status_code == 201
    body = response.json()
    assert {"id", "event", "status", "total", "currency", "created_at", "tickets"} <= set(body)
    assert body["status"] == "paid" and body["total"] == 2000 and body["currency"] == "KRW"
    assert sorted(t["seat"]["id"] for t in body["tickets"]) == sorted(hold.seat_ids)
    codes = [t["code"] for t in body["tickets"]]
    assert len(set(codes)) == 2 and all(len(c) >= 16 for c in codes)
    assert all(t["seat"]["status"] == "sold" for t in body["tickets"])
    assert Seat.objects.filter(id__in=hold.seat_ids, status="sold").count() == 2
    assert Hold.objects.get(pk=hold.pk).status == "checked_out"
    assert len(_captured()) == 1 and _captured()[0]["amount"] == 2000
    assert Payment.objects.get().status == "paid"
    assert Confirmation.objects.get(order_id=body["id"]).status in {"pending", "sent"}
    assert auth_client.get(f"/api/holds/{hold.id}/").json()["status"] == "checked_out"


def test_checkout_ends_the_queue_admission(make_event, user, django_capture_on_commit_callbacks):
    event = make_event(queue_enabled=True)
    admit(event, user.id)
    client = client_for(user)
    hold_id = client.post(f"/api/events/{event.id}/holds/", {"seat_ids": seat_ids(event)[:1]}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        assert _checkout(client, hold_id["id"]).status_code == 201
    assert not admission_is_active(event=event, user_id=user.id)
    assert client.get(f"/api/events/{event.id}/queue/").json()["state"] == "expired"
    # The replay still answers (no admission needed to read one's own order).
    assert _checkout(client, hold_id["id"]).status_code == 200


def test_idempotency_key_is_required(auth_client, hold):
    response = _checkout(auth_client, hold.id, key=None)
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert _checkout(auth_client, hold.id, key="k" * 256).status_code == 400
    assert not Payment.objects.exists() and not _captured()


def test_replay_returns_the_same_order_and_charges_once(auth_client, hold):
    first = _checkout(auth_client, hold.id)
    again = _checkout(auth_client, hold.id)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["tickets"] == first.json()["tickets"]
    assert Order.objects.count() == 1 and len(_captured()) == 1


def test_another_key_on_a_checked_out_hold_is_409(auth_client, hold):
    assert _checkout(auth_client, hold.id).status_code == 201
    response = _checkout(auth_client, hold.id, key="key-2")
    assert response.status_code == 409 and response.json()["error"] == "already_checked_out"
    assert len(_captured()) == 1


def test_decline_keeps_the_hold_and_the_key_can_be_retried(auth_client, hold):
    response = _checkout(auth_client, hold.id, token="tok_declined")
    assert response.status_code == 402 and response.json()["error"] == "payment_declined"
    fresh = Hold.objects.get(pk=hold.pk)
    assert fresh.status == "active" and fresh.paying_until is None
    assert set(Seat.objects.filter(id__in=hold.seat_ids).values_list("status", "held_until")) == {
        ("held", fresh.expires_at)
    }
    assert not _captured() and not Order.objects.exists()
    assert Payment.objects.get().status == "declined"
    assert _checkout(auth_client, hold.id, token="tok_ok").status_code == 201
    assert len(_captured()) == 1


def test_gateway_timeout_is_502_bounded_and_sells_nothing(auth_client, hold):
    started = time.monotonic()
    response = _checkout(auth_client, hold.id, token="tok_timeout")
    assert time.monotonic() - started < 3
    assert response.status_code == 502 and response.json()["error"] == "payment_unavailable"
    assert Hold.objects.get(pk=hold.pk).public_status() == "active"
    assert Seat.objects.filter(id__in=hold.seat_ids, status="held").count() == 2
    assert not _captured() and not Order.objects.exists()


def test_expired_hold_is_410_and_charges_nothing(auth_client, hold):
    past = timezone.now() - timedelta(seconds=1)
    Hold.objects.filter(pk=hold.pk).update(expires_at=past)
    Seat.objects.filter(hold=hold).update(held_until=past)
    response = _checkout(auth_client, hold.id)
    assert response.status_code == 410 and response.json()["error"] == "hold_expired"
    assert not TestGateway.charges() and not Order.objects.exists()


def test_released_hold_is_410(auth_client, hold):
    auth_client.delete(f"/api/holds/{hold.id}/")
    assert _checkout(auth_client, hold.id).status_code == 410


def test_checkout_is_404_for_someone_elses_hold(other_client, hold):
    response = _checkout(other_client, hold.id)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert not Payment.objects.exists()


def test_someone_elses_hold_is_404_before_a_missing_key_or_token(other_client, hold):
    """The contract's order: 404 before 400, so a bad request says nothing about another person's hold."""
    response = other_client.post(f"/api/holds/{hold.id}/checkout/", {}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert not Payment.objects.exists()


def test_a_key_reused_for_another_hold_is_400(auth_client, event, user, hold):
    other = hold_create(event=event, user_id=user.id, seat_ids=[seat_ids(event)[5]])
    assert _checkout(auth_client, hold.id).status_code == 201
    response = _checkout(auth_client, other.id)
    assert response.status_code == 400 and response.json()["error"] == "invalid"


def test_expiry_leaves_a_hold_alone_while_it_is_paid(event, user, hold, make_user):
    begun = checkout_begin(hold_id=hold.id, user_id=user.id, idempotency_key="k", payment_token="tok_ok")
    past = timezone.now() - timedelta(seconds=1)
    Hold.objects.filter(pk=hold.pk).update(expires_at=past)  # lapses mid-payment
    assert holds_expire() == 0
    assert Seat.objects.filter(id__in=hold.seat_ids, status="held").count() == 2
    with pytest.raises(ApplicationError) as taken:
        hold_create(event=event, user_id=make_user("carol").id, seat_ids=hold.seat_ids)
    assert taken.value.code == "seat_unavailable"
    order = checkout_finish(payment_id=begun.payment.id, charge=Charge(id="ch_1", amount=2000, currency="KRW"))
    assert order is not None and Ticket.objects.filter(order=order).count() == 2
