"""Celery entry points: thin wrappers around the booking services.

Routing (``CELERY_TASK_ROUTES``): hold expiry and reconciliation run on the
``booking`` queue beside the admission rounds; everything that talks to the
mail server runs on the ``mail`` queue, so a stuck SMTP server never delays
an admission.

The periodic jobs log at INFO only when they did something: with nothing
to do, ``dev.py run`` stays quiet.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from reservations import holds, orders, reconciliation

logger = logging.getLogger(__name__)


@shared_task(name="reservations.tasks.holds_expire")
def holds_expire() -> int:
    """Beat job: release lapsed holds in bulk (seats back on sale)."""
    released = holds.holds_expire()
    if released:
        logger.info("%d lapsed hold(s) released, their seats back on sale", released)
    return released


@shared_task(name="reservations.tasks.payments_reconcile")
def payments_reconcile() -> dict[str, int]:
    """Beat job: finish or give back every payment nobody finished, retry owed voids and refunds."""
    outcomes = reconciliation.payments_reconcile()
    if outcomes:
        logger.info(
            "payments reconciled: %s", ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        )
    return outcomes


@shared_task(
    bind=True,
    name="reservations.tasks.order_confirmation_send",
    max_retries=settings.CONFIRMATION_MAX_ATTEMPTS - 1,
    acks_late=True,
)
def order_confirmation_send(self, order_id: int) -> bool:
    """Email the order confirmation now; a failed attempt is retried with
    exponential backoff until the outbox row says it failed for good."""
    try:
        return orders.order_confirmation_send(order_id=order_id)
    except orders.ConfirmationNotSent as exc:
        raise self.retry(exc=exc, countdown=exc.retry_in) from exc


@shared_task(name="reservations.tasks.confirmations_send")
def confirmations_send() -> int:
    """Kicked after sales: send every pending confirmation, in batches over one SMTP connection."""
    return orders.confirmations_send_kicked(linger_seconds=settings.CONFIRMATION_LINGER_SECONDS)


@shared_task(name="reservations.tasks.confirmations_sweep")
def confirmations_sweep() -> int:
    """Beat job: send the outbox rows whose task was lost."""
    return orders.confirmations_sweep()
