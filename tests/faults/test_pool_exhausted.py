"""The booking fast path's PostgreSQL pool runs dry: a clear 503, never a 500,
and a charge captured just before is sold exactly once when the buyer retries.

The live web process gets a pool of one asyncio connection with a short wait
(``ASYNC_DB_POOL_SIZE=1``, ``ASYNC_DB_POOL_TIMEOUT``). The test holds a row
lock on a seat from its own connection; a hold of that seat takes the pool's
only connection and waits on the lock, so every other fast-path statement
waits for the pool, past its timeout. The on-sale benchmark hit this under
overload: ``PoolTimeout`` between the gateway's capture and the sale was a
bare 500 that left the buyer guessing whether they had paid.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from accounts.services import token_issue
from reservations.models import Order, Payment, Seat
from reservations.payments import TestGateway
from tests.faults.conftest import api, hold_seats, pay, wait_for
from tests.live import database_url
from tests.reservations.conftest import seat_ids

pytestmark = pytest.mark.django_db(transaction=True)


def _captured() -> list[dict]:
    return [c for c in TestGateway.charges().values() if c["status"] == "captured"]


def test_a_dry_pool_is_503_and_the_captured_charge_sells_once_on_retry(stack, make_user, make_event):
    event = make_event()
    s = seat_ids(event)
    buyer, blocker, late = (token_issue(user=make_user(name)) for name in ("buyer", "blocker", "late"))
    live = stack(
        DB_POOL="1",
        ASYNC_DB_POOL_SIZE="1",
        ASYNC_DB_POOL_TIMEOUT="0.5",
        DB_LOCK_TIMEOUT_MS="6000",
        PAYMENT_TIMEOUT_SECONDS="4",  # tok_capture_slow captures at once and answers after 2 s
    )
    live.start("web")
    hold = hold_seats(live.url, buyer, event.id, [s[0]])

    answers: dict[str, Any] = {}

    def checkout() -> None:
        answers["checkout"] = pay(live.url, buyer, hold["id"], key="dry-1", card="tok_capture_slow")

    def blocked_hold() -> None:
        answers["blocked"] = api(
            live.url, "POST", f"/api/events/{event.id}/holds/", token=blocker, body={"seat_ids": [s[1]]}
        )

    with psycopg.connect(database_url()) as locker:
        locker.execute("SELECT id FROM reservations_seat WHERE id = %s FOR UPDATE", [s[1]])
        paying = threading.Thread(target=checkout)
        paying.start()
        assert wait_for(_captured, timeout=10, every=0.02), "the charge was never captured"
        waiting = threading.Thread(target=blocked_hold)
        waiting.start()  # takes the pool's one connection and waits on the row lock
        paying.join(15)
        status, body = answers["checkout"]
        assert (status, body.get("error")) == (503, "unavailable"), (body, answers)
        status, body = api(live.url, "POST", f"/api/events/{event.id}/holds/", token=late, body={"seat_ids": [s[2]]})
        assert (status, body["error"]) == (503, "unavailable"), body
        locker.rollback()
    waiting.join(15)
    assert answers["blocked"][0] == 201  # the lock went: the waiting hold went through

    assert Payment.objects.get().status == "in_progress" and not Order.objects.exists()
    # The buyer retries with the same key: 409 checkout_in_progress while the
    # earlier run's payment window lasts (PAYMENT_TIMEOUT_SECONDS plus the
    # margin, 34 s here), then that run is settled: its capture is the sale.
    retry = wait_for(
        lambda: (a := pay(live.url, buyer, hold["id"], key="dry-1", card="tok_ok"))[0] != 409 and a,
        timeout=60,
        every=0.5,
    )
    assert retry and retry[0] in (200, 201), retry
    order = Order.objects.get()
    assert retry[1]["id"] == order.id and order.status == "paid"
    assert [c["status"] for c in TestGateway.charges().values()] == ["captured"]  # one charge, sold once
    assert Seat.objects.get(pk=s[0]).status == "sold"
    assert Seat.objects.filter(pk=s[2], status="available").exists()  # the refused hold changed nothing
