"""Confirmations survive a dead broker and a killed worker; a mail server
that never answers does not stop admissions. Real processes, a real
redis-server as the broker, real SMTP servers on loopback."""

from __future__ import annotations

import time
from typing import Any

import pytest

from accounts.services import token_issue
from core.redis import get_redis
from queue_app.keys import meta_key
from queue_app.services import queue_join
from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Confirmation, Order
from reservations.orders import confirmation_message_id
from tests.faults.conftest import hold_seats, pay, wait_for
from tests.reservations.conftest import make_users, seat_ids

pytestmark = pytest.mark.django_db(transaction=True)

OUTBOX_FAST = {"CONFIRMATION_SWEEP_AGE_SECONDS": "1", "CONFIRMATION_SWEEP_TICK_SECONDS": "1"}


def _buyer(make_user: Any) -> Any:
    user = make_user("mailme")
    user.email = "mailme@example.com"
    user.save()
    return user


def test_checkout_with_the_broker_down_is_201_and_the_email_goes_out_once_it_is_back(
    stack, smtp, redis_server, make_user, make_event
):
    broker = redis_server()
    recorder, smtp_port = smtp()
    user, event = _buyer(make_user), make_event()
    token = token_issue(user=user)
    live = stack(CELERY_BROKER_URL=broker.url, EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}", **OUTBOX_FAST)
    live.start("web")
    hold = hold_seats(live.url, token, event.id, seat_ids(event)[:2])

    broker.kill()
    started = time.monotonic()
    status, order = pay(live.url, token, hold["id"], key="broker-down", card="tok_ok")
    assert status == 201 and order["status"] == "paid", order
    assert time.monotonic() - started < 10  # a dead broker costs a bounded publish attempt, no more
    assert Confirmation.objects.get(order_id=order["id"]).status == "pending"

    broker.start()  # the broker is back (empty: whatever was queued before is gone)
    live.start("worker", "beat")
    assert wait_for(lambda: Confirmation.objects.get(order_id=order["id"]).status == "sent", timeout=30)
    assert len(recorder.messages) == 1
    assert recorder.messages[0]["Message-ID"] == confirmation_message_id(order["id"])


def test_a_worker_killed_mid_send_sends_again_with_the_same_message_id(stack, smtp, make_user, make_event):
    """The SMTP server stores the message and stalls before its 250: the
    worker is killed in that window. After its lease runs out the sweep sends
    the message again: one duplicate, recognisable by its Message-ID."""
    recorder, smtp_port = smtp(stall=30)
    live = stack(EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}", CONFIRMATION_LEASE_SECONDS="3", **OUTBOX_FAST)
    live.start("worker:mail", "beat")
    user, event = _buyer(make_user), make_event()
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:1])
    order = checkout(hold_id=hold.id, user_id=user.id, payment_token="tok_ok", idempotency_key="mid-send").order
    assert recorder.stored.wait(30), "the first copy never reached the mail server"
    live.kill("worker:mail")
    assert Confirmation.objects.get(order=order).status == "pending"

    recorder.stall = 0
    live.start("worker:mail")
    assert wait_for(lambda: Confirmation.objects.get(order=order).status == "sent", timeout=30)
    time.sleep(2)  # nothing more arrives afterwards
    ids = [m["Message-ID"] for m in recorder.messages]
    assert ids == [confirmation_message_id(order.id)] * 2  # the crash window's one duplicate, same id
    assert Confirmation.objects.get(order=order).attempts == 2


def _rounds(event_id: int) -> int:
    return int(get_redis().hget(meta_key(event_id), "round") or 0)


@pytest.mark.parametrize(
    ("workers", "admissions_continue"),
    [
        (("worker:booking", "worker:mail"), True),  # the product's layout (dev.py run, compose)
        (("worker@1",), False),  # protection off: one worker slot serves both queues
    ],
    ids=["one-worker-per-queue", "one-shared-worker-slot"],
)
def test_a_mail_server_that_never_answers_does_not_stop_admissions(
    stack, silent_smtp, make_event, workers, admissions_continue
):
    live = stack(EMAIL_URL=f"smtp://127.0.0.1:{silent_smtp}", EMAIL_TIMEOUT="60", ADMISSION_TICK_SECONDS="0.5")
    live.start(*workers, "beat")
    event = make_event(queue_enabled=True, batch=1, interval=1, cap=1000)
    buyers = make_users(3, prefix="stuck")
    for buyer in buyers:
        buyer.email = f"{buyer.username}@example.com"
        buyer.save()
    for buyer in buyers:  # three sales whose confirmations hang on the silent server
        hold = hold_create(event=event, user_id=buyer.id, seat_ids=[seat_ids(event)[buyers.index(buyer)]])
        checkout(hold_id=hold.id, user_id=buyer.id, payment_token="tok_ok", idempotency_key="stuck")
    assert wait_for(lambda: Confirmation.objects.filter(attempts__gte=1).count() >= 1, timeout=30)
    for user_id in range(10_000, 10_030):
        queue_join(event_id=event.id, user_id=user_id)

    time.sleep(3)  # rounds already queued before the hang drain away
    before = _rounds(event.id)
    time.sleep(5)
    ran = _rounds(event.id) - before
    assert Order.objects.count() == 3 and not Confirmation.objects.filter(status="sent").exists()
    if admissions_continue:
        assert ran >= 3, f"only {ran} admission rounds in 5 s while the mail server hangs"
    else:
        assert ran == 0, f"{ran} rounds ran: the shared slot was not blocked, so this control proves nothing"


def test_a_sale_on_the_event_loop_kicks_the_mail_worker_without_the_sweep(stack, smtp, make_user, make_event):
    """The fast path's sales share one kick per tick (``after_sale_async``):
    with no beat (no sweep), each confirmation still goes out within seconds."""
    recorder, smtp_port = smtp()
    users = make_users(3)
    for user in users:
        user.email = f"{user.username}@example.com"
        user.save()
    event = make_event()
    live = stack(EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}")
    live.start("web", "worker")
    orders = []
    for user, seat in zip(users, seat_ids(event), strict=False):
        token = token_issue(user=user)
        hold = hold_seats(live.url, token, event.id, [seat])
        status, order = pay(live.url, token, hold["id"], key=f"kick-{user.id}", card="tok_ok")
        assert status == 201, order
        orders.append(order["id"])
    assert wait_for(lambda: Confirmation.objects.filter(order_id__in=orders, status="sent").count() == 3, timeout=15)
    assert sorted(m["Message-ID"] for m in recorder.messages) == sorted(confirmation_message_id(o) for o in orders)
