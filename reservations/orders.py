"""After the sale: the confirmation email (a transactional outbox, sent once
per order and retried). Cancellations and refunds are ``reservations.refunds``."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone, translation
from django.utils.translation import gettext

from core.l10n import date_text, money_text, time_text
from core.redis import get_redis
from reservations.metrics import confirmations_total
from reservations.models import Confirmation, Order, Ticket
from reservations.selectors import event_time_zone

logger = logging.getLogger(__name__)

OUTBOX_KICK_KEY = "outbox:confirmations:kick"
#: A kick whose task was lost stops blocking new kicks after this long.
OUTBOX_KICK_TTL_SECONDS = 30


def confirmation_message_id(order_id: int) -> str:
    """The confirmation's Message-ID, the same on every attempt: a copy sent
    again after a crash (between the SMTP server's accept and our commit) is
    recognisable as the same message."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "localhost"
    return f"<order-{order_id}.confirmation@{domain}>"


def _confirmation_message(*, order: Order, to: str) -> EmailMessage:
    """The confirmation in every language of the site, the default one first:
    the buyer's language is not stored with the order, and a ticket e-mail
    must be readable by whoever bought it."""
    languages = mail_languages()
    subject = " / ".join(_in(language, _confirmation_subject, order) for language in languages)
    body = "\n\n--\n\n".join(_in(language, _confirmation_text, order, language) for language in languages)
    return EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": confirmation_message_id(order.id)},
    )


def mail_languages() -> list[str]:
    """The languages of every e-mail: ``LANGUAGE_CODE`` first, then the rest of ``LANGUAGES``."""
    return [settings.LANGUAGE_CODE] + [code for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def _in(language: str, write: Any, *args: Any) -> str:
    with translation.override(language):
        return write(*args)


def _confirmation_subject(order: Order) -> str:
    return gettext("Your tickets for {event} (order {order})").format(event=order.event.name, order=order.id)


def _confirmation_text(order: Order, language: str) -> str:
    event = order.event
    zone = event_time_zone(event)
    lines = [
        gettext("Thank you for your order {order} for {event}.").format(order=order.id, event=event.name),
        " · ".join(
            (event.venue.name, date_text(event.starts_at, zone, language), time_text(event.starts_at, zone, language))
        ),
        "",
    ]
    for ticket in sorted(order.tickets.all(), key=lambda t: t.id):  # prefetched with their seats by the sender
        seat = ticket.seat
        lines.append(
            gettext("Section {section}, row {row}, seat {number} ({grade}): {code}").format(
                section=seat.section, row=seat.row, number=seat.number, grade=seat.grade.code, code=ticket.code
            )
        )
    lines += [
        "",
        gettext("Total: {total}").format(total=money_text(order.total, order.currency, language)),
        gettext("Your tickets, with their QR codes and as PDFs, are under My tickets."),
    ]
    return "\n".join(lines)


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


@dataclass(frozen=True)
class Delivery:
    """One confirmation's attempt: sent (no error), or failed with attempts
    left (``retry_in`` seconds to the next) or for good (``retry_in`` None)."""

    error: str | None = None
    retry_in: float | None = None


def _confirmations_deliver(*, order_ids: list[int]) -> dict[int, Delivery]:
    """Send claimed confirmations over one SMTP connection and record each
    result. A failure stays pending for a later attempt (``next_attempt_at``),
    or becomes ``failed`` after ``CONFIRMATION_MAX_ATTEMPTS``."""
    confirmations = list(
        Confirmation.objects.filter(order_id__in=order_ids)
        .select_related("order__event__venue", "order__user")
        .prefetch_related(Prefetch("order__tickets", queryset=Ticket.objects.select_related("seat__grade")))
    )
    errors: dict[int, str | None] = {}
    mailer = get_connection()
    try:
        mailer.open()
    except Exception as exc:  # noqa: BLE001 - the server is down or refuses: every message waits for a retry
        down: str | None = _error_text(exc)
    else:
        down = None
    try:
        for confirmation in confirmations:
            to = confirmation.to or confirmation.order.user.email
            try:
                if down is not None:
                    errors[confirmation.order_id] = down
                    continue
                if not to:
                    raise ValueError("The buyer has no email address.")
                mailer.send_messages([_confirmation_message(order=confirmation.order, to=to)])
            except Exception as exc:  # noqa: BLE001 - any transport failure is recorded and retried
                errors[confirmation.order_id] = _error_text(exc)
            else:
                errors[confirmation.order_id] = None
    finally:
        with contextlib.suppress(Exception):
            mailer.close()
    now = timezone.now()
    sent = [order_id for order_id, error in errors.items() if error is None]
    Confirmation.objects.filter(order_id__in=sent, status=Confirmation.Status.PENDING).update(
        status=Confirmation.Status.SENT, sent_at=now, last_error="", lease_until=None, updated_at=now
    )
    results = {order_id: Delivery() for order_id in sent}
    retried: list[str] = []
    for confirmation in confirmations:
        error = errors[confirmation.order_id]
        if error is None:
            continue
        final = confirmation.attempts >= settings.CONFIRMATION_MAX_ATTEMPTS
        retry_in = confirmation_retry_seconds(confirmation.attempts)
        Confirmation.objects.filter(pk=confirmation.pk, status=Confirmation.Status.PENDING).update(
            status=Confirmation.Status.FAILED if final else Confirmation.Status.PENDING,
            last_error=error,
            lease_until=None,
            next_attempt_at=now + timedelta(seconds=retry_in),
            updated_at=now,
        )
        results[confirmation.order_id] = Delivery(error=error, retry_in=None if final else retry_in)
        confirmations_total.labels("failed" if final else "retry").inc()
        if final:
            logger.error("confirmation of order %s failed for good: %s", confirmation.order_id, error)
        else:
            retried.append(error)
    if retried:  # one line a batch: a mail server that is down must not print one per order
        logger.warning("%d confirmation e-mail(s) not sent, tried again later: %s", len(retried), retried[0])
    if sent:
        confirmations_total.labels("sent").inc(len(sent))
        logger.info("%d confirmation e-mail(s) sent", len(sent))
    return results


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def confirmation_retry_seconds(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` tries: doubling."""
    return settings.CONFIRMATION_RETRY_SECONDS * 2 ** max(attempts - 1, 0)


def order_confirmation_send(*, order_id: int) -> bool:
    """Send the order's confirmation unless it went already or another sender
    holds it; True when sent now. Raises ``ConfirmationNotSent`` when this
    attempt failed and another is due."""
    if not _confirmations_claim(where="order_id = %s", params=[order_id], limit=1):
        return False
    delivery = _confirmations_deliver(order_ids=[order_id])[order_id]
    if delivery.error is None:
        return True
    if delivery.retry_in is None:
        return False  # failed for good: recorded as such
    raise ConfirmationNotSent(delivery.error, delivery.retry_in)


def confirmations_send(*, min_age_seconds: float = 0, batch: int = 200) -> int:
    """Send pending confirmations, ``batch`` per claim, until none is due;
    only rows at least ``min_age_seconds`` old. Returns how many went out."""
    sent = 0
    while True:
        cutoff = timezone.now() - timedelta(seconds=min_age_seconds)
        order_ids = _confirmations_claim(where="created_at <= %s", params=[cutoff], limit=batch)
        if not order_ids:
            return sent
        sent += sum(1 for d in _confirmations_deliver(order_ids=order_ids).values() if d.error is None)
        if len(order_ids) < batch:
            return sent


def confirmations_kick() -> None:
    """Ask the mail worker to send what is pending, unless a task is already
    asked for or running (``confirmations_send_kicked``): under load one task
    sends many orders' confirmations (a task per order cost 6 ms of worker
    CPU). A broker that is down is logged, not raised: the rows wait in the
    outbox for the sweep."""
    from reservations.tasks import confirmations_send as task

    try:
        if get_redis().set(OUTBOX_KICK_KEY, 1, nx=True, ex=OUTBOX_KICK_TTL_SECONDS):
            try:
                task.delay()
            except Exception:
                get_redis().delete(OUTBOX_KICK_KEY)
                raise
    except Exception:  # noqa: BLE001 - any broker or Redis failure: the outbox row stays pending for the sweep
        logger.warning("confirmations not queued (broker or Redis down?); the sweep sends them")


def confirmations_send_kicked(*, linger_seconds: float) -> int:
    """The kicked task: send what is pending and, while sales keep coming,
    stay and send again every ``linger_seconds``, so a burst of sales is one
    task sending batches instead of a task every few orders. When a round
    finds nothing, the kick flag is cleared and the outbox read once more: a
    sale that committed before the flag went saw it and did not ask, and is
    sent by that last read; a sale after it asks again. Returns how many went
    out."""
    sent = 0
    while True:
        _kick_flag("expire", OUTBOX_KICK_KEY, OUTBOX_KICK_TTL_SECONDS)  # still running: no second task
        round_sent = confirmations_send()
        sent += round_sent
        if not round_sent:
            _kick_flag("delete", OUTBOX_KICK_KEY)
            return sent + confirmations_send()
        time.sleep(linger_seconds)


def _kick_flag(command: str, *args: Any) -> None:
    """Renew or clear the kick flag; Redis being away must not stop the
    sending (the flag then expires by itself and the sweep catches up)."""
    try:
        getattr(get_redis(), command)(*args)
    except redis.RedisError:
        logger.warning("the confirmation kick flag could not be updated (Redis unavailable)")


def confirmations_sweep(*, batch: int = 200) -> int:
    """The outbox's beat job: send the confirmations still pending
    ``CONFIRMATION_SWEEP_AGE_SECONDS`` after they were written (their kick was
    lost: broker down, worker killed mid-send, a retry past its lease)."""
    return confirmations_send(min_age_seconds=settings.CONFIRMATION_SWEEP_AGE_SECONDS, batch=batch)


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
