"""Money the gateway owes back: voids and refunds that survive crashes and outages.

A void or a refund is written down first (the payment becomes ``voiding`` in
its own committed statement; a refund is a ``Refund`` row, written in the
transaction that voids its tickets) and cleared only once the gateway has
answered. A call that fails leaves the debt in place with a backoff
(``next_attempt_at``) and a count (``gateway_attempts`` and the metric
``ticketing_payment_gateway_failures_total``); the reconciliation job
(``reservations.reconciliation``) retries it until it is paid back. Nothing
here is ever only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F
from django.utils import timezone

from reservations.metrics import gateway_failures
from reservations.models import Payment, Refund
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


def refund_settle(*, refund_id: int) -> bool:
    """Pay back a pending refund (written in the transaction that voided its
    tickets), outside any lock; True once the gateway has taken it. The
    refund's own key (``Refund.key``) makes a second call after a crash or
    a timeout the same refund at the gateway, never another one. A failed
    call backs off and stays pending for reconciliation."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING:
        return True
    try:
        payment_gateway().refund(idempotency_key=refund.payment.charge_key, refund_key=refund.key, amount=refund.amount)
    except PaymentError as exc:
        attempts = refund.gateway_attempts + 1
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
            gateway_attempts=F("gateway_attempts") + 1,
            next_attempt_at=timezone.now() + timedelta(seconds=settle_backoff_seconds(attempts)),
            error=f"refund failed: {exc}"[:300],
            updated_at=timezone.now(),
        )
        gateway_failures.labels("refund").inc()
        logger.warning("refund %s failed (attempt %s); retried later", refund.pk, attempts)
        return False
    _refund_done(refund)
    return True


def _refund_done(refund: Refund) -> None:
    """Record a refund the gateway took; the payment becomes ``refunded``
    when its order is wholly refunded and this was its last refund owed. The
    payment row is locked first, so two refunds of one payment finishing at
    once cannot each see the other still pending."""
    now = timezone.now()
    with transaction.atomic():
        Payment.objects.select_for_update().filter(pk=refund.payment_id).exists()
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
            status=Refund.Status.REFUNDED, refunded_at=now, next_attempt_at=None, error="", updated_at=now
        )
        owed = Refund.objects.filter(payment_id=refund.payment_id, status=Refund.Status.PENDING)
        Payment.objects.filter(pk=refund.payment_id, status=Payment.Status.REFUNDING).exclude(Exists(owed)).update(
            status=Payment.Status.REFUNDED, updated_at=now
        )
