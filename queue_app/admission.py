"""The admission check the booking side depends on: one place for the rule
"user U is admitted to event E now", and for ending an admission."""

from __future__ import annotations

import time

from django.utils.translation import gettext_lazy as _

from core.errors import Forbidden
from queue_app.store import store_admission_end, store_arrive, store_arrive_async
from reservations.models import Event


class NotAdmitted(Forbidden):
    def __init__(self) -> None:
        super().__init__("not_admitted", _("You have not been admitted to this event's sale; join the queue first."))


def admission_is_active(*, event: Event, user_id: int) -> bool:
    """True when the event has no queue, or the user's admission has not
    lapsed. Asking is arriving: the first booking-side check within the
    arrival window (``Event.arrival_seconds``) gives the person the rest of
    the full admission (``store_arrive``)."""
    if not event.queue_enabled:
        return True
    return store_arrive(event_id=event.id, user_id=user_id, now=time.time()) is not None


def admission_require(*, event: Event, user_id: int) -> None:
    """Raise 403 ``not_admitted`` unless ``admission_is_active``."""
    if not admission_is_active(event=event, user_id=user_id):
        raise NotAdmitted()


async def admission_require_async(*, event: Event, user_id: int) -> None:
    """``admission_require`` for the booking fast path (one script call on the event loop)."""
    if event.queue_enabled and await store_arrive_async(event_id=event.id, user_id=user_id, now=time.time()) is None:
        raise NotAdmitted()


def admission_end(*, event_id: int, user_id: int) -> None:
    """End the user's admission at once (after checkout, or on leaving), so
    the next admission round can give the place to the next person."""
    store_admission_end(event_id=event_id, user_id=user_id)
