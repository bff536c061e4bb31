"""After the sale: the confirmation email (once per order) and refunds."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.utils import timezone

from reservations.errors import order_not_found
from reservations.holds import seats_release_sql
from reservations.locking import locked_atomic
from reservations.models import Confirmation, Order, Payment, Ticket
from reservations.payments import PaymentError, payment_gateway

logger = logging.getLogger(__name__)


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
    )


def order_confirmation_send(*, order_id: int) -> bool:
    """Send the order's confirmation unless it went already; True when sent now.

    The confirmation row stays locked while sending, so two runs of the task
    for one order send one email: the second finds it ``sent``. A failed
    attempt is recorded (``attempts``, ``last_error``) and re-raised for the
    task to retry.
    """
    error: Exception | None = None
    with transaction.atomic():
        confirmation = (
            Confirmation.objects.select_for_update(of=("self",))
            .select_related("order__event", "order__user")
            .filter(order_id=order_id)
            .first()
        )
        if confirmation is None or confirmation.status == Confirmation.Status.SENT:
            return False
        confirmation.attempts += 1
        to = confirmation.to or confirmation.order.user.email
        try:
            if not to:
                raise ValueError("The buyer has no email address.")
            _confirmation_message(order=confirmation.order, to=to).send()
        except Exception as exc:  # noqa: BLE001 - any transport failure is retried by the task
            error = exc
            confirmation.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        else:
            confirmation.status = Confirmation.Status.SENT
            confirmation.sent_at = timezone.now()
            confirmation.last_error = ""
        confirmation.save()
    if error is not None:
        raise error
    return True


def order_confirmation_fail(*, order_id: int) -> None:
    """Every retry failed: keep a record of the message that could not be sent."""
    Confirmation.objects.filter(order_id=order_id).exclude(status=Confirmation.Status.SENT).update(
        status=Confirmation.Status.FAILED, updated_at=timezone.now()
    )


def order_refund(*, order_id: int) -> Order:
    """Cancel a paid order (admin): tickets void, seats back on sale at once, payment voided."""
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
        payment = Payment.objects.filter(order=order).first()
        if payment is not None:
            Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.REFUNDED, updated_at=timezone.now())
    if payment is not None:
        try:
            payment_gateway().void(idempotency_key=payment.charge_key)
        except PaymentError:
            logger.exception("refund of payment %s failed at the gateway; refund it by hand", payment.pk)
    return order
