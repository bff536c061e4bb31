"""The reconciliation job: no payment stays unsettled.

Every ``PAYMENT_RECONCILE_TICK_SECONDS`` the beat job takes each payment
still ``in_progress`` past ``PAYMENT_TIMEOUT_SECONDS`` plus
``PAYMENT_RECONCILE_AFTER_SECONDS`` (its process died between charge and
order, or never heard the gateway's answer), and each void still owed
whose backoff has passed, and settles it with
``reservations.checkout.payment_reconcile``; then each refund still pending
(``reservations.settlement.refund_settle``). With the defaults a captured
charge without an order is sold or voided, and a refund whose call was
lost is made, within about 25 seconds.
"""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import LockNotOwnedError

from core.redis import get_redis
from reservations.checkout import payment_reconcile
from reservations.metrics import payments_reconciled
from reservations.models import Payment, Refund
from reservations.settlement import refund_settle

RECONCILE_LOCK_KEY = "reservations:reconcile-lock"


def _stale_before(now: datetime) -> datetime:
    """A call begun before this has surely ended: answered, timed out, or its process died."""
    return now - timedelta(seconds=float(settings.PAYMENT_TIMEOUT_SECONDS) + settings.PAYMENT_RECONCILE_AFTER_SECONDS)


def payments_due(*, now: datetime, batch: int) -> list[int]:
    """Ids of the payments the job must settle now, oldest first."""
    owed = Q(status=Payment.Status.VOIDING) & (
        Q(next_attempt_at__isnull=True, updated_at__lte=now - timedelta(seconds=1)) | Q(next_attempt_at__lte=now)
    )
    due = Payment.objects.filter(Q(status=Payment.Status.IN_PROGRESS, updated_at__lte=_stale_before(now)) | owed)
    return list(due.order_by("updated_at").values_list("id", flat=True)[:batch])


def refunds_due(*, now: datetime, batch: int) -> list[int]:
    """Ids of the refunds the job must settle now, oldest first: one never
    tried whose first call (made after the cancellation committed) has
    surely ended, or a failed one whose backoff has passed. Calling while
    the first call still runs would be safe (the refund's key), only wasted."""
    due = Refund.objects.filter(
        Q(next_attempt_at__isnull=True, updated_at__lte=_stale_before(now)) | Q(next_attempt_at__lte=now),
        status=Refund.Status.PENDING,
    )
    return list(due.order_by("updated_at").values_list("id", flat=True)[:batch])


def payments_reconcile(*, batch: int = 200) -> dict[str, int]:
    """Settle every payment that is due; one run at a time (a Redis lock)."""
    lock = get_redis().lock(RECONCILE_LOCK_KEY, timeout=300, blocking=False)
    if not lock.acquire():
        return {}
    try:
        outcomes: Tally[str] = Tally()
        now = timezone.now()
        for payment_id in payments_due(now=now, batch=batch):
            outcomes[payment_reconcile(payment_id=payment_id)] += 1
        for refund_id in refunds_due(now=now, batch=batch):
            outcomes["refunded" if refund_settle(refund_id=refund_id) else "refund_failed"] += 1
        for outcome, count in outcomes.items():
            payments_reconciled.labels(outcome).inc(count)
        return dict(outcomes)
    finally:
        with contextlib.suppress(LockNotOwnedError):  # a run longer than the lock's timeout
            lock.release()
