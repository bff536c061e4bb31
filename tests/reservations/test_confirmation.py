"""Order confirmation: sent once per order, retried, recorded when it fails for good."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.test import override_settings

from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Confirmation
from reservations.orders import order_confirmation_send
from reservations.tasks import order_confirmation_send as confirmation_task
from tests.reservations.conftest import seat_ids
from tests.reservations.threads import run_together
from ticketing.celery import app


@pytest.fixture
def buyer(make_user):
    user = make_user("dora")
    user.email = "dora@example.com"
    user.save()
    return user


def _order(event, user):
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    return checkout(hold_id=hold.id, user_id=user.id, payment_token="tok_ok", idempotency_key="k").order


@pytest.mark.django_db
def test_confirmation_is_sent_once_even_if_the_task_runs_twice(event, buyer):
    order = _order(event, buyer)
    confirmation_task.apply(args=[order.id])
    confirmation_task.apply(args=[order.id])
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["dora@example.com"] and str(order.id) in message.subject
    codes = order.tickets.values_list("code", flat=True)
    assert all(code in message.body for code in codes)
    confirmation = Confirmation.objects.get(order=order)
    assert confirmation.status == "sent" and confirmation.attempts == 1 and confirmation.sent_at


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_one_email(event, buyer):
    order = _order(event, buyer)
    mail.outbox = []
    results = run_together([lambda: order_confirmation_send(order_id=order.id) for _ in range(4)])
    assert sorted(results) == [False, False, False, True]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@override_settings(
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST="127.0.0.1",
    EMAIL_PORT=9,  # nothing listens: a real connection failure
    EMAIL_TIMEOUT=1,
    CONFIRMATION_RETRY_SECONDS=0,
)
def test_a_message_that_fails_for_good_is_recorded(event, buyer):
    order = _order(event, buyer)
    confirmation_task.apply(args=[order.id])
    confirmation = Confirmation.objects.get(order=order)
    assert confirmation.status == "failed"
    assert confirmation.attempts == confirmation_task.max_retries + 1
    assert confirmation.last_error.startswith(("ConnectionRefusedError", "OSError", "TimeoutError"))


@pytest.mark.django_db(transaction=True)
def test_checkout_emails_through_a_real_worker_after_commit(event, buyer):
    mail.outbox = []
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        order = _order(event, buyer)
        deadline = time.monotonic() + 15
        while Confirmation.objects.get(order=order).status != "sent" and time.monotonic() < deadline:
            time.sleep(0.05)
    assert Confirmation.objects.get(order=order).status == "sent"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_the_confirmation_is_in_english_and_korean(make_event, buyer, settings):
    """The buyer's language is not stored with the order: the one message
    carries both, the site's default first, each with its own money and date."""
    from datetime import UTC, datetime

    settings.TIME_ZONE = "Asia/Seoul"
    event = make_event(starts_at=datetime(2031, 3, 1, 10, 0, tzinfo=UTC))
    order = _order(event, buyer)
    order_confirmation_send(order_id=order.id)
    (message,) = mail.outbox
    assert message.subject == f"Your tickets for Show (order {order.id}) / Show 티켓 (주문 {order.id})"
    english, korean = message.body.split("\n\n--\n\n")
    assert f"Thank you for your order {order.id} for Show." in english
    assert "Arena · Saturday, March 1, 2031 · 7:00\u202fPM (Korean Standard Time)" in english
    assert "Total: ₩2,000" in english and "Section A, row 1, seat 1 (R): " in english
    assert f"Show 주문 {order.id}에 감사드립니다." in korean
    assert "Arena · 2031년 3월 1일 토요일 · 오후 7:00 (대한민국 표준시)" in korean
    assert "합계: ₩2,000" in korean and "A구역 1열 1번 (R): " in korean
    for code in order.tickets.values_list("code", flat=True):
        assert code in english and code in korean
