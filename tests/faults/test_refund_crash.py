"""A refund is never lost and never made twice: kill -9 of the web process
in the middle of a cancellation, then reconciliation finishes the refund.

The cancellation commits (tickets void, seats back on sale, the refund
written as a pending ``Refund``) before the gateway is called, outside any
lock. The test gateway's ``testgw:delays`` holds the refund call: before it
acts (the process dies between recording the refund and the gateway making
it) or after it acted and before it answers (the process dies before it
records what the gateway did).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from accounts.services import token_issue
from core.redis import get_redis
from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Order, Payment, Refund, Seat, Ticket
from reservations.payments import TestGateway
from tests.faults.conftest import api, wait_for
from tests.live import LiveStack
from tests.reservations.conftest import seat_ids

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = "4"  # the gateway's timeout; the held refund call waits 2 s


def _paid_order(make_user: Any, make_event: Any) -> tuple[str, Order]:
    user = make_user("canceller")
    event = make_event(cancel_hours=24)
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    order = checkout(hold_id=hold.id, user_id=user.id, payment_token="tok_ok", idempotency_key="k").order
    return token_issue(user=user), order


def _charge() -> dict:
    (charge,) = TestGateway.charges().values()
    return charge


def _cancel_and_kill(live: LiveStack, token: str, order: Order, *, when: Any) -> None:
    """Cancel through the live API and SIGKILL the web process once ``when()`` is true."""
    answers: list[Any] = []

    def cancel() -> None:
        try:
            answers.append(api(live.url, "POST", f"/api/orders/{order.id}/cancel/", token=token))
        except OSError as exc:  # the server died under the request
            answers.append(exc)

    thread = threading.Thread(target=cancel)
    thread.start()
    assert wait_for(when, timeout=20, every=0.02), "the cancellation never reached the point of the crash"
    live.kill("web")
    thread.join(10)
    assert answers and isinstance(answers[0], OSError), answers  # the buyer never heard an answer


def _cancelled(order: Order) -> None:
    """What the cancellation's transaction did, whatever became of the process."""
    assert Order.objects.get(pk=order.pk).status == "refunded"
    assert set(Ticket.objects.filter(order=order).values_list("status", flat=True)) == {"void"}
    assert Seat.objects.filter(tickets__order=order, status="available").count() == 2


def _reconciled_once(order: Order) -> None:
    refund = wait_for(lambda: Refund.objects.filter(order=order, status="refunded").first(), timeout=60)
    assert refund is not None, "the refund was not finished within 60 s"
    assert Refund.objects.filter(order=order).count() == 1
    charge = _charge()
    assert charge["status"] == "refunded" and charge["refunded"] == order.total
    assert list(charge["refunds"]) == [refund.key]  # one refund at the gateway, under the refund's own key
    assert Payment.objects.get(order=order).status == "refunded"


def test_a_crash_between_recording_the_refund_and_the_gateway_is_refunded_by_reconciliation(
    stack, make_user, make_event
):
    token, order = _paid_order(make_user, make_event)
    live = stack(
        PAYMENT_TIMEOUT_SECONDS=TIMEOUT, PAYMENT_RECONCILE_AFTER_SECONDS="1", PAYMENT_RECONCILE_TICK_SECONDS="1"
    )
    live.start("web")
    get_redis().hset(TestGateway.DELAYS_KEY, "refund", "2 0")  # the call waits before it refunds

    _cancel_and_kill(live, token, order, when=lambda: Refund.objects.filter(order=order).exists())

    _cancelled(order)
    assert Refund.objects.get(order=order).status == "pending"
    assert _charge()["status"] == "captured" and "refunds" not in _charge()  # the gateway never heard of it
    get_redis().delete(TestGateway.DELAYS_KEY)
    live.start("worker", "beat")
    _reconciled_once(order)

    live.start("web")  # the buyer cancels again: the same refunded order, nothing more
    status, body = api(live.url, "POST", f"/api/orders/{order.id}/cancel/", token=token)
    assert status == 200 and body["status"] == "refunded"
    assert [r["status"] for r in body["refunds"]] == ["refunded"]
    _reconciled_once(order)


def test_a_crash_after_the_gateway_refunded_is_not_refunded_twice(stack, make_user, make_event):
    token, order = _paid_order(make_user, make_event)
    live = stack(
        PAYMENT_TIMEOUT_SECONDS=TIMEOUT, PAYMENT_RECONCILE_AFTER_SECONDS="1", PAYMENT_RECONCILE_TICK_SECONDS="1"
    )
    live.start("web")
    get_redis().hset(TestGateway.DELAYS_KEY, "refund", "0 2")  # the call refunds, then answers late

    _cancel_and_kill(live, token, order, when=lambda: _charge().get("refunds"))

    _cancelled(order)
    assert Refund.objects.get(order=order).status == "pending"  # nobody heard that the gateway refunded
    get_redis().delete(TestGateway.DELAYS_KEY)
    live.start("worker", "beat")
    _reconciled_once(order)
