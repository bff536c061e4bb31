"""Seat availability: the one rule, in each form the code needs.

A seat is **free** when its status is ``available``, or when it is ``held``
and its ``held_until`` has passed (lazy expiry: nobody has to release a
lapsed hold before its seats can be sold again). A **hold** is live while it
is ``active`` and either its ``expires_at`` or its ``paying_until`` (set
while a checkout is paying) is still ahead.

The two levels agree because every writer keeps a held seat's
``held_until`` equal to the later of its hold's ``expires_at`` and
``paying_until`` (``reservations.holds`` writes it, ``reservations.checkout``
moves it). ``tests/reservations/test_availability.py`` holds every form below
to the same answers on the same rows.

Each form takes ``now`` as its only parameter (the SQL fragments as one
``%s``), so callers can never disagree about the clock either.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

AVAILABLE, HELD, SOLD = "available", "held", "sold"
ACTIVE = "active"


# -- seats ---------------------------------------------------------------------


def seat_lapsed_sql(alias: str = "s") -> str:
    """SQL: a held seat whose hold has lapsed (one ``%s``: now)."""
    return f"({alias}.status = 'held' AND {alias}.held_until <= %s)"


def seat_free_sql(alias: str = "s") -> str:
    """SQL: the seat can be held now (one ``%s``: now)."""
    return f"({alias}.status = 'available' OR {seat_lapsed_sql(alias)})"


def seat_held_live_sql(alias: str = "s") -> str:
    """SQL: the seat is held by a live hold (one ``%s``: now)."""
    return f"({alias}.status = 'held' AND {alias}.held_until > %s)"


def seat_free_q(now: datetime) -> Q:
    """ORM: seats that can be held now."""
    return Q(status=AVAILABLE) | Q(status=HELD, held_until__lte=now)


def seat_is_free(status: str, held_until: datetime | None, now: datetime) -> bool:
    """Python: the seat can be held now."""
    return status == AVAILABLE or (status == HELD and held_until is not None and held_until <= now)


def seat_public_status(status: str, held_until: datetime | None, now: datetime) -> str:
    """The status a reader sees: a seat of a lapsed hold reads ``available``."""
    return AVAILABLE if status == HELD and seat_is_free(status, held_until, now) else status


# -- holds ---------------------------------------------------------------------


def hold_live_sql(alias: str = "h") -> str:
    """SQL: the hold still claims its seats (two ``%s``: now, now)."""
    return f"({alias}.status = 'active' AND ({alias}.expires_at > %s OR {alias}.paying_until > %s))"


def hold_live_q(now: datetime) -> Q:
    """ORM: holds that still claim their seats (live, or being paid for)."""
    return Q(status=ACTIVE) & (Q(expires_at__gt=now) | Q(paying_until__gt=now))


def hold_lapsed_q(now: datetime) -> Q:
    """ORM: active holds that no longer claim their seats (what the expiry job releases)."""
    return Q(status=ACTIVE, expires_at__lte=now) & (Q(paying_until__isnull=True) | Q(paying_until__lte=now))


def hold_is_live(status: str, expires_at: datetime, paying_until: datetime | None, now: datetime) -> bool:
    """Python: the hold still claims its seats."""
    return status == ACTIVE and (expires_at > now or (paying_until is not None and paying_until > now))
