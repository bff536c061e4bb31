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

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from psycopg import errors as pg_errors

from core.errors import Conflict
from core.pg import pg_fetchall

_LOCK_FAILURES = (pg_errors.LockNotAvailable, pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


BUSY_DETAIL = _("Someone else is changing these seats; try again.")


class Busy(Conflict):
    """409: a row stayed locked past ``lock_timeout``; the client should retry."""

    def __init__(self, code: str = "busy", detail: str | Promise = BUSY_DETAIL) -> None:
        super().__init__(code, detail)
        self.retry_after = 1


def row_locks_enabled() -> bool:
    return settings.BOOKING_ROW_LOCKS


def is_lock_failure(exc: BaseException) -> bool:
    return isinstance(exc, _LOCK_FAILURES) or isinstance(getattr(exc, "__cause__", None), _LOCK_FAILURES)


_LOCK_TIMEOUT_SQL = "SELECT set_config('lock_timeout', %s, true)"
_SHOPPER_LOCK_SQL = (
    "INSERT INTO reservations_shopper (event_id, user_id, created_at) VALUES (%s, %s, now()) "
    "ON CONFLICT (event_id, user_id) DO UPDATE SET event_id = EXCLUDED.event_id"
)


@contextmanager
def locked_atomic(*, busy: Busy | None = None, shopper: tuple[int, int] | None = None) -> Iterator[None]:
    """``transaction.atomic`` with a bounded lock wait; lock failures raise ``busy``.

    With ``shopper=(event_id, user_id)`` the person's row is locked first
    (created if needed), in the same round trip as the timeout setting.
    """
    try:
        with transaction.atomic():
            timeout = f"{settings.DB_LOCK_TIMEOUT_MS}ms"
            with connection.cursor() as cursor:
                if shopper is not None and row_locks_enabled():
                    cursor.execute(f"{_LOCK_TIMEOUT_SQL}; {_SHOPPER_LOCK_SQL}", [timeout, *shopper])
                else:
                    cursor.execute(_LOCK_TIMEOUT_SQL, [timeout])
            yield
    except DatabaseError as exc:
        if is_lock_failure(exc):
            raise (busy or Busy()) from exc
        raise


async def locked_fetch_async(sql: str, params: list, *, busy: Busy | None = None) -> list[tuple]:
    """One booking statement from asyncio code, as its own transaction
    (``core.pg``: ``lock_timeout`` set on the connection); lock failures
    raise ``busy``, as in ``locked_atomic``."""
    try:
        return await pg_fetchall(sql, params)
    except psycopg.Error as exc:
        if is_lock_failure(exc):
            raise (busy or Busy()) from exc
        raise
