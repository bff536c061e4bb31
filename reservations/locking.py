"""The one place that takes row locks for booking (after pretix's locking module).

* Every booking transaction runs in :func:`locked_atomic`: ``lock_timeout``
  bounds each lock wait (``DB_LOCK_TIMEOUT_MS``), and a lock timeout, a
  serialization failure or a deadlock becomes :class:`Busy` (409 with
  ``Retry-After``), never a 500.
* Lock order, everywhere: the person's :class:`~reservations.models.Shopper`
  row, then hold rows, then seat rows by ascending id. Hold creation never
  locks hold rows, so no two transactions can wait on each other in a cycle.
* ``BOOKING_ROW_LOCKS = False`` (a debug setting for the concurrency tests
  only) switches the row locks off, to show the races they close.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg import errors as pg_errors

from ticketing.errors import Conflict

_LOCK_FAILURES = (pg_errors.LockNotAvailable, pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


class Busy(Conflict):
    """409: a row stayed locked past ``lock_timeout``; the client should retry."""

    def __init__(self, code: str = "busy", detail: str = "Someone else is changing these seats; try again.") -> None:
        super().__init__(code, detail)
        self.retry_after = 1


def row_locks_enabled() -> bool:
    return getattr(settings, "BOOKING_ROW_LOCKS", True)


def is_lock_failure(exc: BaseException) -> bool:
    return isinstance(exc, _LOCK_FAILURES) or isinstance(getattr(exc, "__cause__", None), _LOCK_FAILURES)


@contextmanager
def locked_atomic(*, busy: Busy | None = None) -> Iterator[None]:
    """``transaction.atomic`` with a bounded lock wait; lock failures raise ``busy``."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.DB_LOCK_TIMEOUT_MS}ms"])
            yield
    except DatabaseError as exc:
        if is_lock_failure(exc):
            raise (busy or Busy()) from exc
        raise


def shopper_lock(*, event_id: int, user_id: int) -> None:
    """Lock (creating it if needed) the person's row for the event, in one round trip."""
    if not row_locks_enabled():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reservations_shopper (event_id, user_id, created_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (event_id, user_id) DO UPDATE SET event_id = EXCLUDED.event_id",
            [event_id, user_id],
        )
