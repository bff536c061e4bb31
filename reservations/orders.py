"""After the sale: the confirmation email (a transactional outbox, sent once
per order and retried) and refunds."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.utils import timezone

from reservations.errors import order_not_found
from reservations.holds import seats_release_sql
from reservations.locking import locked_atomic
from reservations.models import Confirmation, Order, Payment, Ticket
from reservations.settlement import payment_refund

logger = logging.getLogger(__name__)


def confirmation_message_id(order_id: int) -> str:
    """The confirmation's Message-ID, the same on every attempt: a copy sent
    again after a crash (between the SMTP server's accept and our commit) is
    recognisable as the same message."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "localhost"
    return f"<order-{order_id}.confirmation@{domain}>"


def _confirmation_message(*, order: Order, to: str) -> EmailMessage:
    lines = [f"Thank you for your order {order.id} for {order.event.name}.", ""]
    for ticket in order.tickets.select_related("seat__grade").order_by("id"):
        seat = ticket.seat
        lines.append(f"Section {seat.section}, row {seat.row}, seat {seat.number} ({seat.grade.code}): {ticket.code}")
    lines += ["", f"Total: {order.total} {order.currency}"]
    return EmailMessage(
        subject=f"Your tickets for {order.event.name} (order {order.id})",
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": confirmation_message_id(order.id)},
    )


_CLAIM_SQL = """
UPDATE reservations_confirmation SET lease_until = %s, attempts = attempts + 1, updated_at = %s
WHERE id IN (
    SELECT id FROM reservations_confirmation
    WHERE status = 'pending' AND (lease_until IS NULL OR lease_until <= %s)
      AND (next_attempt_at IS NULL OR next_attempt_at <= %s) AND {where}
    ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
)
RETURNING order_id
"""


def _confirmations_claim(*, where: str, params: list, limit: int) -> list[int]:
    """Lease pending confirmations to this sender (committed at once): no
    other sender takes them until the lease runs out. Returns their order ids."""
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.CONFIRMATION_LEASE_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL.format(where=where), [lease_until, now, now, now, *params, limit])
        return [row[0] for row in cursor.fetchall()]


class ConfirmationNotSent(Exception):
    """This attempt failed; the row stays pending and is tried again after ``retry_in`` seconds."""

    def __init__(self, error: str, retry_in: float) -> None:
        super().__init__(error)
        self.retry_in = retry_in


def _confirmation_deliver(*, order_id: int) -> None:
    """Send one claimed confirmation and record the result. Raises
    ``ConfirmationNotSent`` while attempts are left; marks it ``failed`` after the last."""
    confirmation = Confirmation.objects.select_related("order__event", "order__user").get(order_id=order_id)
    to = confirmation.to or confirmation.order.user.email
    try:
        if not to:
            raise ValueError("The buyer has no email address.")
        _confirmation_message(order=confirmation.order, to=to).send()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        final = confirmation.attempts >= settings.CONFIRMATION_MAX_ATTEMPTS
        retry_in = settings.CONFIRMATION_RETRY_SECONDS * 2 ** (confirmation.attempts - 1)
        Confirmation.objects.filter(pk=confirmation.pk, status=Confirmation.Status.PENDING).update(
            status=Confirmation.Status.FAILED if final else Confirmation.Status.PENDING,
            last_error=error,
            lease_until=None,
            next_attempt_at=timezone.now() + timedelta(seconds=retry_in),
            updated_at=timezone.now(),
        )
        if not final:
            raise ConfirmationNotSent(error, retry_in) from exc
        logger.error("confirmation of order %s failed for good: %s", order_id, error)
        return
    Confirmation.objects.filter(pk=confirmation.pk, status=Confirmation.Status.PENDING).update(
        status=Confirmation.Status.SENT,
        sent_at=timezone.now(),
        last_error="",
        lease_until=None,
        updated_at=timezone.now(),
    )


def order_confirmation_send(*, order_id: int) -> bool:
    """Send the order's confirmation unless it went already or another sender
    holds it; True when sent now. Raises ``ConfirmationNotSent`` when this
    attempt failed and another is due."""
    if not _confirmations_claim(where="order_id = %s", params=[order_id], limit=1):
        return False
    _confirmation_deliver(order_id=order_id)
    return True


def order_confirmation_queue(*, order_id: int) -> None:
    """Queue the confirmation's task; a broker that is down is logged, not
    raised: the row is in the outbox and the sweep sends it."""
    from reservations.tasks import order_confirmation_send as task

    try:
        task.delay(order_id)
    except Exception:  # noqa: BLE001 - any broker failure: the outbox row stays pending for the sweep
        logger.warning("confirmation of order %s not queued (broker down?); the sweep sends it", order_id)


def confirmations_sweep(*, batch: int = 100) -> int:
    """The outbox's beat job: send the confirmations still pending
    ``CONFIRMATION_SWEEP_AGE_SECONDS`` after they were written (their task
    was lost: broker down, worker killed mid-send, a retry past its lease).
    Returns how many went out."""
    cutoff = timezone.now() - timedelta(seconds=settings.CONFIRMATION_SWEEP_AGE_SECONDS)
    sent = 0
    for order_id in _confirmations_claim(where="created_at <= %s", params=[cutoff], limit=batch):
        try:
            _confirmation_deliver(order_id=order_id)
        except ConfirmationNotSent:
            continue
        sent += 1
    return sent


def confirmation_resend(*, order_id: int) -> bool:
    """Queue an order's confirmation again (the admin's "resend"): a failed
    or sent row becomes pending with fresh attempts; the sweep sends it if
    the task cannot be queued."""
    changed = Confirmation.objects.filter(order_id=order_id).update(
        status=Confirmation.Status.PENDING,
        attempts=0,
        last_error="",
        lease_until=None,
        next_attempt_at=None,
        sent_at=None,
        updated_at=timezone.now(),
    )
    return bool(changed)


def order_refund(*, order_id: int) -> Order:
    """Cancel a paid order (admin): tickets void, seats back on sale at once;
    the payment becomes ``refunding`` in the same transaction and the gateway
    refund runs after it, outside any lock. A refund the gateway does not
    take now stays owed and the reconciliation job retries it."""
    with locked_atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            raise order_not_found()
        if order.status == Order.Status.REFUNDED:
            return order
        seat_ids = list(order.tickets.filter(status=Ticket.Status.VALID).values_list("seat_id", flat=True))
        with connection.cursor() as cursor:
            cursor.execute(seats_release_sql("id = ANY(%s) AND status = 'sold'"), [seat_ids])
        order.tickets.update(status=Ticket.Status.VOID)
        order.status = Order.Status.REFUNDED
        order.save(update_fields=["status", "updated_at"])
        payment_ids = list(Payment.objects.filter(order=order, status=Payment.Status.PAID).values_list("id", flat=True))
        Payment.objects.filter(id__in=payment_ids).update(status=Payment.Status.REFUNDING, updated_at=timezone.now())
    for payment_id in payment_ids:
        payment_refund(payment_id=payment_id)
    return order
