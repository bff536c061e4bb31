"""The admission check the booking side depends on: one place for the rule
"user U is admitted to event E now", and for ending an admission."""

from __future__ import annotations

import time

from rest_framework import status

from core.errors import ApplicationError
from core.redis import get_async_redis, get_redis
from queue_app.keys import active_key
from queue_app.store import store_admission_end
from reservations.models import Event


class NotAdmitted(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "not_admitted",
            "You have not been admitted to this event's sale; join the queue first.",
            status_code=status.HTTP_403_FORBIDDEN,
        )


def _admitted(expires: float | None) -> bool:
    """The admission (its expiry as stored in the active set) has not lapsed."""
    return expires is not None and expires > time.time()


def admission_is_active(*, event: Event, user_id: int) -> bool:
    """True when the event has no queue, or the user's admission has not lapsed."""
    if not event.queue_enabled:
        return True
    return _admitted(get_redis().zscore(active_key(event.id), str(user_id)))


def admission_require(*, event: Event, user_id: int) -> None:
    """Raise 403 ``not_admitted`` unless ``admission_is_active``."""
    if not admission_is_active(event=event, user_id=user_id):
        raise NotAdmitted()


async def admission_require_async(*, event: Event, user_id: int) -> None:
    """``admission_require`` for the booking fast path (one ZSCORE on the event loop)."""
    if event.queue_enabled and not _admitted(await get_async_redis().zscore(active_key(event.id), str(user_id))):
        raise NotAdmitted()


def admission_end(*, event_id: int, user_id: int) -> None:
    """End the user's admission at once (after checkout, or on leaving), so
    the next admission round can give the place to the next person."""
    store_admission_end(event_id=event_id, user_id=user_id)
