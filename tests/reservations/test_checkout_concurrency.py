"""Checkout races with real transactions: replays at once, and a hold lost mid-payment."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from reservations.holds import hold_create, hold_release
from reservations.models import Hold, Order, Payment, Seat
from reservations.payments import TestGateway
from tests.reservations.conftest import client_for, seat_ids
from tests.reservations.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _slowish_gateway(settings):
    settings.PAYMENT_TIMEOUT_SECONDS = 0.6  # tok_slow answers after 0.3 s


def _checkout(client, hold_id, key, token="tok_slow"):
    def call():
        response = client.post(
            f"/api/holds/{hold_id}/checkout/", {"payment_token": token}, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        return response.status_code, response.json(), response.get("Retry-After")

    return call


def test_two_replays_at_once_charge_once(event, user):
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    client = client_for(user)
    results = run_together([_checkout(client, hold.id, "same-key") for _ in range(2)])
    statuses = sorted(r[0] for r in results)
    assert statuses == [201, 409], results
    busy = next(r for r in results if r[0] == 409)
    assert busy[1]["error"] == "checkout_in_progress" and busy[2] == "1"
    assert Order.objects.count() == 1
    assert len(TestGateway.charges()) == 1
    replay = _checkout(client, hold.id, "same-key")()
    assert replay[0] == 200 and replay[1]["id"] == Order.objects.get().id


def test_many_keys_at_once_make_one_order(event, user):
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    client = client_for(user)
    results = run_together([_checkout(client, hold.id, f"key-{i}") for i in range(6)])
    codes = Counter(r[0] if r[0] != 409 else r[1]["error"] for r in results)
    assert codes[201] == 1
    assert set(codes) <= {201, "checkout_in_progress", "already_checked_out"}, codes
    assert Order.objects.count() == 1
    assert sum(1 for c in TestGateway.charges().values() if c["status"] == "captured") == 1


def test_payment_is_voided_when_the_hold_is_lost_mid_payment(event, user):
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    client = client_for(user)
    outcome: list = []

    def pay() -> None:
        try:
            outcome.append(_checkout(client, hold.id, "k")())
        finally:
            connection.close()

    thread = threading.Thread(target=pay)
    thread.start()
    deadline = time.monotonic() + 5
    while Hold.objects.get(pk=hold.pk).paying_until is None and time.monotonic() < deadline:
        time.sleep(0.01)
    hold_release(hold_id=hold.id, user_id=None, force=True)  # the admin releases it during payment
    thread.join(10)
    status, body, _ = outcome[0]
    assert status == 410 and body["error"] == "hold_expired"
    charges = TestGateway.charges()
    assert len(charges) == 1 and next(iter(charges.values()))["status"] == "voided"
    assert Payment.objects.get().status == "voided"
    assert not Order.objects.exists()
    assert Seat.objects.filter(id__in=hold.seat_ids, status="available").count() == 2
