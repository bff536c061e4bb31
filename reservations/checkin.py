"""The check-in rule: a ticket admits once, and a void ticket admits nobody.

A ticket's status only moves forward (``valid`` to ``checked_in`` or to
``void``, never back), so a scan reads the ticket and, if it is valid,
makes it checked in with one conditional update (``status = 'valid'`` in
its WHERE). Two gates scanning the same ticket at the same instant both
reach that update; PostgreSQL lets the first change the row and re-checks
the condition for the second, which finds ``checked_in`` and answers 409
with the first scan's time. A cancellation voiding the ticket at that
instant holds its row lock: the scan waits for its commit and then finds
``void``.

``CHECKIN_CONDITIONAL_UPDATE = False`` (a debug setting for the concurrency
tests only) writes without the condition, ``BOOKING_RACE_PAUSE_SECONDS``
after the read, to show the race the condition closes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, Invalid
from reservations.errors import already_checked_in, code_invalid, error_messages, ticket_not_found
from reservations.locking import locked_atomic
from reservations.models import Ticket
from reservations.serializers import ticket_seat_data

#: What a ticket code can be (``ticket_codes``: 22 URL-safe characters; the
#: database allows 16 to 64).
TICKET_CODE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def may_scan_tickets(user: Any) -> bool:
    """Door staff: staff members, or anyone given ``reservations.scan_ticket``."""
    return bool(user.is_authenticated and (user.is_staff or user.has_perm("reservations.scan_ticket")))


@dataclass(frozen=True)
class CheckIn:
    """A ticket just checked in (with its seat and event), and when."""

    ticket: Ticket
    checked_in_at: datetime


def ticket_code_parse(code: object) -> str:
    """The code as typed or scanned, without surrounding blanks; 400 when it
    cannot be a ticket code (not a string, another alphabet, too short or long)."""
    if not isinstance(code, str):
        raise Invalid(error_messages["code_required"], fields={"code": [_("This field is required.")]})
    code = code.strip()
    if not TICKET_CODE.fullmatch(code):
        raise code_invalid()
    return code


def _event_parse(event: object) -> int | None:
    """The optional ``event`` the door is for: an event id, or 400."""
    if event is None:
        return None
    if isinstance(event, bool) or not isinstance(event, int) or not 0 < event < 2**63:
        raise Invalid(error_messages["event_invalid"], fields={"event": [_("Must be an event id.")]})
    return event


def ticket_check_in(*, code: object, by_user_id: int, event_id: object = None, now: datetime | None = None) -> CheckIn:
    """Check the ticket with this code in, once. With ``event_id`` (the door's
    event) a ticket of another event is refused (409 ``wrong_event``) and
    stays as it is. Errors: 400 ``invalid``, 404 ``not_found``, 409
    ``already_checked_in`` (with ``checked_in_at``), ``ticket_void``."""
    code = ticket_code_parse(code)
    door_event = _event_parse(event_id)
    now = now or timezone.now()
    ticket = Ticket.objects.select_related("seat__grade", "event").filter(code=code).first()
    if ticket is None:
        raise ticket_not_found()
    if door_event is not None and ticket.event_id != door_event:
        raise Conflict(
            "wrong_event",
            error_messages["wrong_event"],
            ticket_event=ticket.event_id,
            ticket_event_name=ticket.event.name,
            seat=ticket_seat_data(ticket.seat),
        )
    if ticket.status == Ticket.Status.VALID and _check_in_write(ticket=ticket, by_user_id=by_user_id, now=now):
        ticket.status, ticket.checked_in_at, ticket.checked_in_by_id = Ticket.Status.CHECKED_IN, now, by_user_id
        return CheckIn(ticket=ticket, checked_in_at=now)
    ticket.refresh_from_db(fields=["status", "checked_in_at", "checked_in_by"])
    raise _refusal(ticket)


def _check_in_write(*, ticket: Ticket, by_user_id: int, now: datetime) -> bool:
    """Make the ticket checked in if it still is valid; True when this call did."""
    fields = {"status": Ticket.Status.CHECKED_IN, "checked_in_at": now, "checked_in_by_id": by_user_id}
    if not settings.CHECKIN_CONDITIONAL_UPDATE:
        time.sleep(settings.BOOKING_RACE_PAUSE_SECONDS)
        return bool(Ticket.objects.filter(pk=ticket.pk).update(**fields))
    with locked_atomic():
        return bool(Ticket.objects.filter(pk=ticket.pk, status=Ticket.Status.VALID).update(**fields))


def _refusal(ticket: Ticket) -> Conflict:
    """Why a ticket that is not valid (any more) does not admit: 409."""
    seat = ticket_seat_data(ticket.seat)
    if ticket.status == Ticket.Status.CHECKED_IN:
        by = ticket.checked_in_by.get_username() if ticket.checked_in_by else None
        return already_checked_in(checked_in_at=ticket.checked_in_at.isoformat(), checked_in_by=by, seat=seat)
    return Conflict("ticket_void", error_messages["ticket_void"], seat=seat)
