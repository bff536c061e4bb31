"""Money the gateway owes back: voids and refunds that survive crashes and outages.

A void or a refund is written down first (the payment becomes ``voiding`` or
``refunding`` in its own committed statement) and cleared only once the
gateway has answered. A call that fails leaves the debt in place with a
backoff (``next_attempt_at``) and a count (``gateway_attempts`` and the
metric ``ticketing_payment_gateway_failures_total``); the reconciliation job
(``reservations.reconciliation``) retries it until it is paid back. Nothing
here is ever only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from reservations.metrics import gateway_failures
from reservations.models import Payment
from reservations.payments import PaymentError, payment_gateway

logger = logging.getLogger(__name__)


#: Statuses a void may start from: a charge that never became a sale.
_VOIDABLE = [Payment.Status.IN_PROGRESS, Payment.Status.FAILED, Payment.Status.DECLINED, Payment.Status.VOIDING]


def settle_backoff_seconds(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed calls: doubling, capped."""
    base = settings.PAYMENT_SETTLE_RETRY_SECONDS
    return min(base * 2 ** max(attempts - 1, 0), settings.PAYMENT_SETTLE_RETRY_MAX_SECONDS)


def _settle(payment: Payment, *, action: str, call: Callable[..., None], done: str) -> bool:
    """Call the gateway for a debt already written down; True once it is paid back."""
    try:
        call(idempotency_key=payment.charge_key)
    except PaymentError as exc:
        attempts = payment.gateway_attempts + 1
        Payment.objects.filter(pk=payment.pk, status=payment.status).update(
            gateway_attempts=F("gateway_attempts") + 1,
            next_attempt_at=timezone.now() + timedelta(seconds=settle_backoff_seconds(attempts)),
            error=f"{action} failed: {exc}"[:300],
            updated_at=timezone.now(),
        )
        gateway_failures.labels(action).inc()
        logger.warning("%s of payment %s failed (attempt %s); retried later", action, payment.pk, attempts)
        return False
    Payment.objects.filter(pk=payment.pk, status=payment.status).update(
        status=done, next_attempt_at=None, updated_at=timezone.now()
    )
    return True


def payment_void(*, payment_id: int) -> bool:
    """Give back whatever this payment's current charge captured (a no-op at
    the gateway if nothing was). A paid payment is never voided: that is a refund."""
    Payment.objects.filter(pk=payment_id, status__in=_VOIDABLE).exclude(status=Payment.Status.VOIDING).update(
        status=Payment.Status.VOIDING, next_attempt_at=None, updated_at=timezone.now()
    )
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != Payment.Status.VOIDING:
        return payment.status == Payment.Status.VOIDED
    return _settle(payment, action="void", call=payment_gateway().void, done=Payment.Status.VOIDED)


def payment_refund(*, payment_id: int) -> bool:
    """Pay back a refunding payment (its order was cancelled in the same transaction that made it refunding)."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != Payment.Status.REFUNDING:
        return payment.status == Payment.Status.REFUNDED
    return _settle(payment, action="refund", call=payment_gateway().refund, done=Payment.Status.REFUNDED)
