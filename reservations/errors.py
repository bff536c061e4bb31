"""The booking domain's error catalogue: every code once, with its message
(pretix keeps one ``error_messages`` dict per service module; booking's
services share this one, so a code cannot mean two things). The messages
are lazy translations, worded in the request's language when answered.

The factories below build the errors more than one service raises.
"""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import status

from core.errors import ApplicationError, Conflict, Invalid, NotFound
from reservations.locking import Busy

error_messages = {
    "event_not_found": _("No such event."),
    "hold_not_found": _("No such hold."),
    "order_not_found": _("No such order."),
    "ticket_not_found": _("No such ticket."),
    "sale_not_open": _("The sale has not opened yet."),
    "sale_paused": _("The sale is paused."),
    "sale_closed": _("The sale is closed."),
    "sold_out": _("Every seat of this event is sold."),
    "seat_unavailable": _("Some of these seats are no longer available."),
    "limit_exceeded": _("You may hold and buy at most {limit} seats for this event."),
    "not_enough_seats": _("Not enough seats of this grade are available."),
    "already_checked_out": _("This hold has already been checked out."),
    "checkout_in_progress": _("A checkout of this hold is running; try again in a moment."),
    "hold_expired": _("This hold has expired; its seats went back on sale."),
    "payment_declined": _("The payment was declined; the seats stay held until the hold expires."),
    "payment_unavailable": _("The payment service did not answer; nothing was charged, the seats stay held."),
    "key_reused": _("This Idempotency-Key was used for another hold."),
    "key_required": _("The Idempotency-Key header is required (at most 255 characters)."),
    "token_required": _("payment_token is required."),
    "code_required": _("code is required: the ticket's code as a string."),
    "code_invalid": _("This is not a ticket code."),
    "event_invalid": _("event must be an event id."),
    "already_checked_in": _("This ticket was already checked in."),
    "order_checked_in": _("A ticket of this order was already checked in; the order cannot be cancelled."),
    "ticket_void": _("This ticket is void: its order was cancelled or refunded."),
    "wrong_event": _("This ticket is for another event."),
    "cancel_closed": _("This order can no longer be cancelled: the event's deadline has passed, or it takes none."),
    "scan_forbidden": _("Only door staff may check tickets in."),
    "cancel_body": _("This request takes no body, or an empty JSON object."),
}


def event_not_found() -> NotFound:
    return NotFound(error_messages["event_not_found"])


def hold_not_found() -> NotFound:
    return NotFound(error_messages["hold_not_found"])


def order_not_found() -> NotFound:
    return NotFound(error_messages["order_not_found"])


def ticket_not_found() -> NotFound:
    return NotFound(error_messages["ticket_not_found"])


def already_checked_out() -> Conflict:
    return Conflict("already_checked_out", error_messages["already_checked_out"])


def checkout_in_progress() -> Busy:
    """409 with ``Retry-After``: the hold is being paid for right now."""
    return Busy("checkout_in_progress", error_messages["checkout_in_progress"])


def hold_expired() -> ApplicationError:
    return ApplicationError("hold_expired", error_messages["hold_expired"], status_code=status.HTTP_410_GONE)


def payment_unavailable() -> ApplicationError:
    """502: the gateway did not answer; nothing was sold, the seats stay held."""
    return ApplicationError(
        "payment_unavailable", error_messages["payment_unavailable"], status_code=status.HTTP_502_BAD_GATEWAY
    )


def limit_exceeded(limit: int) -> Conflict:
    """409 with ``limit``: held and bought seats plus these would pass ``max_tickets_per_user``."""
    return Conflict("limit_exceeded", format_lazy(error_messages["limit_exceeded"], limit=limit), limit=limit)


def code_invalid() -> Invalid:
    """400: what was scanned or typed cannot be a ticket code (its alphabet or length)."""
    return Invalid(error_messages["code_invalid"], fields={"code": [error_messages["code_invalid"]]})


def already_checked_in(*, checked_in_at: str, detail: str | None = None, **extra: object) -> Conflict:
    """409 with ``checked_in_at``: a second scan, or a cancellation of an order already used."""
    return Conflict(
        "already_checked_in", detail or error_messages["already_checked_in"], checked_in_at=checked_in_at, **extra
    )


def cancel_closed() -> Conflict:
    return Conflict("cancel_closed", error_messages["cancel_closed"])
