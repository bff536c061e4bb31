"""The admission gate in front of booking, by name.

Booking does not know the waiting queue. Whether a person may see the seat
map and hold seats right now is a separate check that the API composes with
``hold_create``; the project names it in the setting
``BOOKING_ADMISSION_CHECK`` (the queue's ``admission_require``), as it names
the payment gateway in ``PAYMENT_GATEWAY``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from reservations.models import Event

AdmissionCheck = Callable[..., Any]


@cache
def _check(path: str) -> AdmissionCheck:
    return import_string(path)


def admission_check(*, event: Event, user_id: int) -> None:
    """Raise (403 ``not_admitted`` from the queue) unless the person may shop at ``event`` now."""
    _check(settings.BOOKING_ADMISSION_CHECK)(event=event, user_id=user_id)


async def admission_check_async(*, event: Event, user_id: int) -> None:
    """``admission_check`` for the event-loop fast path: the asyncio twin the
    setting ``BOOKING_ADMISSION_CHECK_ASYNC`` names."""
    await _check(settings.BOOKING_ADMISSION_CHECK_ASYNC)(event=event, user_id=user_id)
