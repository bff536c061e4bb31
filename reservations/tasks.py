"""Celery entry points: thin wrappers around the booking services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from reservations import holds, orders


@shared_task(name="reservations.tasks.holds_expire")
def holds_expire() -> int:
    """Beat job: release lapsed holds in bulk (seats back on sale)."""
    return holds.holds_expire()


@shared_task(bind=True, name="reservations.tasks.order_confirmation_send", max_retries=5, acks_late=True)
def order_confirmation_send(self, order_id: int) -> bool:
    """Email the order confirmation; retried with exponential backoff, recorded as failed at the end."""
    try:
        return orders.order_confirmation_send(order_id=order_id)
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            orders.order_confirmation_fail(order_id=order_id)
            return False
        base = settings.CONFIRMATION_RETRY_SECONDS
        raise self.retry(exc=exc, countdown=base * 2**self.request.retries) from exc
