"""A captured payment is never orphaned: kill -9 of the web process between
the gateway's capture and the order, then reconciliation or the buyer's retry.

``tok_capture_slow`` captures at once and answers after half of
``PAYMENT_TIMEOUT_SECONDS``: the web process is killed in that window, so the
charge is captured and nobody heard about it.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from accounts.services import token_issue
from core.redis import get_redis
from reservations.holds import hold_release
from reservations.models import Hold, Order, Payment, Seat
from reservations.payments import TestGateway
from tests.faults.conftest import hold_seats, pay, wait_for
from tests.live import LiveStack
from tests.reservations.conftest import seat_ids

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = "4"  # the slow capture answers after 2 s


def _captured() -> list[dict]:
    return [c for c in TestGateway.charges().values() if c["status"] == "captured"]


def _checkout_and_kill(live: LiveStack, token: str, hold_id: int, key: str) -> list[Any]:
    """Start a checkout that captures slowly, SIGKILL the web process once the charge is captured."""
    answers: list[Any] = []

    def checkout() -> None:
        try:
            answers.append(pay(live.url, token, hold_id, key=key, card="tok_capture_slow"))
        except OSError as exc:  # the server died under the request
            answers.append(exc)

    thread = threading.Thread(target=checkout)
    thread.start()
    assert wait_for(_captured, timeout=10, every=0.02), "the charge was never captured"
    live.kill("web")
    thread.join(10)
    assert answers and isinstance(answers[0], OSError), answers  # the buyer never heard an answer
    return answers


def _buyer(make_user: Any, make_event: Any) -> tuple[str, Any]:
    """A buyer's API token and an event on sale without a queue."""
    user = make_user("crash")
    user.email = "crash@example.com"
    user.save()
    return token_issue(user=user), make_event()


def test_reconciliation_completes_the_sale_when_the_hold_is_still_ours(stack, make_user, make_event):
    token, event = _buyer(make_user, make_event)
    live = stack(
        PAYMENT_TIMEOUT_SECONDS=TIMEOUT, PAYMENT_RECONCILE_AFTER_SECONDS="1", PAYMENT_RECONCILE_TICK_SECONDS="1"
    )
    live.start("web")
    hold = hold_seats(live.url, token, event.id, seat_ids(event)[:2])
    _checkout_and_kill(live, token, hold["id"], "crash-1")
    assert Payment.objects.get().status == "in_progress" and not Order.objects.exists()

    live.start("worker", "beat")  # reconciliation runs in the worker, on beat's tick
    order = wait_for(lambda: Order.objects.filter(hold_id=hold["id"], status="paid").first(), timeout=60)
    assert order is not None, "the captured charge was neither sold nor voided within 60 s"
    assert Payment.objects.get().status == "paid" and Payment.objects.get().order_id == order.id
    assert [c["status"] for c in TestGateway.charges().values()] == ["captured"]  # captured once, and sold
    assert Seat.objects.filter(id__in=[s["id"] for s in hold["seats"]], status="sold").count() == 2
    assert order.tickets.count() == 2

    live.start("web")  # the buyer retries with the same key: the same order, nothing charged twice
    status, body = pay(live.url, token, hold["id"], key="crash-1", card="tok_capture_slow")
    assert status == 200 and body["id"] == order.id
    assert len(TestGateway.charges()) == 1


def test_a_retry_with_the_same_key_voids_the_capture_of_a_lost_hold(stack, make_user, make_event):
    token, event = _buyer(make_user, make_event)
    live = stack(PAYMENT_TIMEOUT_SECONDS=TIMEOUT)  # no worker, no beat: only the retry can settle it
    live.start("web")
    hold = hold_seats(live.url, token, event.id, seat_ids(event)[:2])
    _checkout_and_kill(live, token, hold["id"], "crash-2")
    hold_release(hold_id=hold["id"], user_id=None, force=True)  # the organizer frees the seats meanwhile

    live.start("web")
    status, body = pay(live.url, token, hold["id"], key="crash-2", card="tok_ok")
    assert status == 410 and body["error"] == "hold_expired"
    assert [c["status"] for c in TestGateway.charges().values()] == ["voided"]
    assert Payment.objects.get().status == "voided"
    assert Hold.objects.get(pk=hold["id"]).status == "released" and not Order.objects.exists()


def test_a_void_the_gateway_refuses_is_retried_until_it_goes_through(stack, make_user, make_event):
    """The same crash, the hold lost, and the gateway refusing voids when
    reconciliation tries: the debt stays ``voiding``, each failure is counted
    and retried with backoff, and it is paid back once voids work again."""
    token, event = _buyer(make_user, make_event)
    live = stack(
        PAYMENT_TIMEOUT_SECONDS=TIMEOUT,
        PAYMENT_RECONCILE_AFTER_SECONDS="1",
        PAYMENT_RECONCILE_TICK_SECONDS="1",
        PAYMENT_SETTLE_RETRY_SECONDS="1",
    )
    live.start("web")
    hold = hold_seats(live.url, token, event.id, seat_ids(event)[:1])
    _checkout_and_kill(live, token, hold["id"], "crash-3")
    hold_release(hold_id=hold["id"], user_id=None, force=True)
    get_redis().sadd(TestGateway.OUTAGE_KEY, "void")  # the provider refuses voids for now
    live.start("worker", "beat")
    assert wait_for(lambda: Payment.objects.get().gateway_attempts >= 2, timeout=60), "the void was not retried"
    payment = Payment.objects.get()
    assert payment.status == "voiding" and payment.next_attempt_at is not None and "void failed" in payment.error
    assert _captured(), "nothing may claim the money was given back yet"
    get_redis().delete(TestGateway.OUTAGE_KEY)
    assert wait_for(lambda: Payment.objects.get().status == "voided", timeout=60)
    assert [c["status"] for c in TestGateway.charges().values()] == ["voided"]
