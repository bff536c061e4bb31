"""The hold rule: claim seats for a few minutes, all or nothing.

``hold_create`` is the one function that decides whether a person may hold
seats. Python checks what needs no seat (the ids, the quantity and grade,
the sale, the limit's bound: ``hold_statement``); then one stored function
(``booking_hold`` by id, ``booking_hold_best`` for best available, in
``reservations/sql/booking_v1.sql``) does the rest in one short
transaction and one round trip (see ``reservations.locking`` for the lock
order): lock the person's row, lock the seats by ascending id (best
available: ``SKIP LOCKED``, so shoppers never queue on each other), treat
lapsed holds as free, check the per-person limit, write. ``hold_create_async``
is the same for the event-loop fast path.

Who may hold at all is not this rule: the admission gate
(``reservations.gates.admission_check``, the waiting queue's check) is a
separate, named check that the API composes with ``hold_create``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from core.errors import Conflict, Invalid
from core.metrics import outcomes_counted
from reservations.availability import hold_lapsed_q
from reservations.errors import (
    already_checked_out,
    checkout_in_progress,
    error_messages,
    hold_not_found,
    limit_exceeded,
)
from reservations.locking import Busy, locked_atomic, locked_fetch_async, row_locks_enabled
from reservations.metrics import holds_total
from reservations.models import Event, Hold, Seat
from reservations.selectors import event_grade_ids


def event_sale_require(*, event: Event, now: datetime) -> None:
    """Holds are only taken while the event is on sale (``Event.sale_refusal``
    decides). The stock is not looked at here: the seats themselves answer
    ``seat_unavailable`` / ``not_enough_seats``."""
    refusal = event.sale_refusal(seats_unsold=1, now=now)
    if refusal is not None:
        raise refusal


def _limit_check(*, event: Event, have: int, adding: int) -> None:
    """The per-person limit, before anything is read: no request may ask for
    more seats than ``max_tickets_per_user`` (the full rule, seats held and
    bought plus these, is ``booking_hold``'s, in SQL)."""
    if have + adding > event.max_tickets_per_user:
        raise limit_exceeded(event.max_tickets_per_user)


#: One round trip each: ``booking_hold`` (seats by id) and ``booking_hold_best``
#: (best available) in ``reservations/sql/booking_v1.sql``; the same parameters
#: but the third: the seat ids, or the grade's id.
HOLD_SQL = (
    "SELECT * FROM booking_hold(%s::bigint, %s::bigint, %s::bigint[], %s::integer, %s::timestamptz,"
    " %s::integer, %s::integer, %s::boolean, %s::float8)"
)
HOLD_BEST_SQL = (
    "SELECT * FROM booking_hold_best(%s::bigint, %s::bigint, %s::bigint, %s::integer, %s::timestamptz,"
    " %s::integer, %s::integer, %s::boolean, %s::float8)"
)


def hold_sql_params(*, event: Event, user_id: int, seats: list[int] | int, wanted: int, now: datetime) -> list:
    """The parameters of ``HOLD_SQL`` (``seats``: the ids) or ``HOLD_BEST_SQL``
    (``seats``: the grade's id); without row locks (a debug setting) the race
    window is widened so the concurrency tests can show the race."""
    locks = row_locks_enabled()
    pause = 0.0 if locks else float(settings.BOOKING_RACE_PAUSE_SECONDS)
    limit = event.max_tickets_per_user
    return [event.id, user_id, seats, wanted, now, event.hold_seconds, limit, locks, pause]


def hold_from_rows(rows: list[tuple], *, event: Event, user_id: int, now: datetime) -> Hold:
    """``booking_hold``'s answer: the contract's error, or the hold it wrote
    with its seats as the answer shows them (``hold.seats_written``), so
    nobody reads the seats again."""
    outcome = rows[0][0]
    if outcome == "unknown_seat":
        unknown = [row[2] for row in rows]
        raise Invalid(
            gettext_lazy("Some seats do not exist in this event."),
            fields={"seat_ids": [format_lazy(gettext_lazy("Unknown seat {id}."), id=i) for i in unknown]},
        )
    if outcome == "limit_exceeded":
        raise limit_exceeded(event.max_tickets_per_user)
    if outcome == "not_enough_seats":
        raise Conflict("not_enough_seats", error_messages["not_enough_seats"])
    if outcome == "seat_unavailable":
        raise Conflict("seat_unavailable", error_messages["seat_unavailable"], seat_ids=[row[2] for row in rows])
    rows = sorted(rows, key=lambda row: row[2])
    expires_at = now + timedelta(seconds=event.hold_seconds)
    hold = Hold(
        id=rows[0][1],
        event=event,
        user_id=user_id,
        status=Hold.Status.ACTIVE,
        expires_at=expires_at,
        seat_ids=[row[2] for row in rows],
        total=sum(row[7] for row in rows),
        created_at=now,
        updated_at=now,
    )
    hold._state.adding = False
    hold._state.db = "default"
    hold.seats_written = [
        {"id": i, "section": sec, "row": row, "number": num, "grade": code, "price": price, "status": Seat.Status.HELD}
        for _, _, i, sec, row, num, code, price, _ in rows
    ]
    return hold


def _held(hold: Hold) -> str:
    return "held"


@outcomes_counted(holds_total, ok=_held)
def hold_create(
    *,
    event: Event,
    user_id: int,
    seat_ids: list[int] | None = None,
    quantity: int | None = None,
    grade: str | None = None,
) -> Hold:
    """Hold the given seats, or ``quantity`` best available seats of ``grade``.

    More seats than ``max_tickets_per_user`` can never be held, whatever the
    person already has, so such a request gets the limit check's answer before
    any seat is read or locked (a list of 300,000 ids used to lock the whole
    event first). Numbers no seat id or count can be (past bigint, past
    integer) are 400 before they reach SQL, where they used to overflow."""
    now = timezone.now()
    sql, params = hold_statement(
        event=event, user_id=user_id, seat_ids=seat_ids, quantity=quantity, grade=grade, now=now
    )
    with locked_atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return hold_from_rows(rows, event=event, user_id=user_id, now=now)


def hold_statement(
    *, event: Event, user_id: int, seat_ids: list[int] | None, quantity: int | None, grade: str | None, now: datetime
) -> tuple[str, list]:
    """Every check made before a seat is read, then the stored function to
    run and its parameters (``hold_create`` and ``hold_create_async``)."""
    if seat_ids is not None:
        if quantity is not None or grade is not None:
            raise Invalid(gettext_lazy("Give either seat_ids, or quantity and grade, not both."))
        ids = hold_by_ids_check(event=event, seat_ids=seat_ids, now=now)
        return HOLD_SQL, hold_sql_params(event=event, user_id=user_id, seats=ids, wanted=len(ids), now=now)
    grade_id = hold_best_check(event=event, quantity=quantity, grade=grade, now=now)
    assert quantity is not None
    return HOLD_BEST_SQL, hold_sql_params(event=event, user_id=user_id, seats=grade_id, wanted=quantity, now=now)


def hold_by_ids_check(*, event: Event, seat_ids: list[int], now: datetime) -> list[int]:
    """What is checked before any seat is read: the ids (400), the sale
    (``event_sale_require``) and the limit's bound; the ids sorted (the
    lock order)."""
    if not seat_ids:
        raise Invalid(
            gettext_lazy("seat_ids is empty."), fields={"seat_ids": [gettext_lazy("Choose at least one seat.")]}
        )
    if len(set(seat_ids)) != len(seat_ids):
        raise Invalid(
            gettext_lazy("seat_ids has duplicates."), fields={"seat_ids": [gettext_lazy("A seat appears twice.")]}
        )
    if not all(0 < seat_id < 2**63 for seat_id in seat_ids):  # seat ids are positive bigints
        raise Invalid(
            gettext_lazy("seat_ids holds ids no seat can have."), fields={"seat_ids": [gettext_lazy("Unknown seat.")]}
        )
    event_sale_require(event=event, now=now)
    _limit_check(event=event, have=0, adding=len(seat_ids))
    return sorted(seat_ids)


def hold_best_check(*, event: Event, quantity: int | None, grade: str | None, now: datetime) -> int:
    """Best available's checks before any seat is read: the quantity and the
    grade (400; the event's grades come with it from the booking cache), the
    sale, the limit's bound. Returns the grade's id."""
    if quantity is None or grade is None:
        raise Invalid(gettext_lazy("Give seat_ids, or quantity and grade."))
    if quantity < 1:
        raise Invalid(
            gettext_lazy("quantity must be at least 1."), fields={"quantity": [gettext_lazy("Must be at least 1.")]}
        )
    if quantity >= 2**31:  # past any integer column, and twice it is the SQL LIMIT
        raise Invalid(
            gettext_lazy("quantity is too large."), fields={"quantity": [gettext_lazy("Must be below 2147483648.")]}
        )
    grade_id = event_grade_ids(event).get(grade)
    if grade_id is None:
        raise Invalid(
            format_lazy(gettext_lazy("This event has no grade {grade!r}."), grade=grade),
            fields={"grade": [gettext_lazy("Unknown grade.")]},
        )
    event_sale_require(event=event, now=now)
    _limit_check(event=event, have=0, adding=quantity)
    return grade_id


@outcomes_counted(holds_total, ok=_held)
async def hold_create_async(
    *,
    event: Event,
    user_id: int,
    seat_ids: list[int] | None = None,
    quantity: int | None = None,
    grade: str | None = None,
) -> Hold:
    """``hold_create`` on the event loop (the booking fast path): the same
    checks, the same stored functions, one round trip."""
    now = timezone.now()
    sql, params = hold_statement(
        event=event, user_id=user_id, seat_ids=seat_ids, quantity=quantity, grade=grade, now=now
    )
    return hold_from_rows(await locked_fetch_async(sql, params), event=event, user_id=user_id, now=now)


def seats_release_sql(where: str) -> str:
    """SQL: put the seats picked by ``where`` back on sale, locking them in id
    order first (the one lock order). Every release of seats (hold release,
    expiry, refund) goes through it."""
    return (
        "UPDATE reservations_seat SET status = 'available', hold_id = NULL, held_until = NULL "
        f"WHERE id IN (SELECT id FROM reservations_seat WHERE {where} ORDER BY id FOR UPDATE)"
    )


def seats_free_of_holds(*, hold_ids: list[int]) -> int:
    """Put the still-held seats of these holds back on sale."""
    with connection.cursor() as cursor:
        cursor.execute(seats_release_sql("hold_id = ANY(%s) AND status = 'held'"), [hold_ids])
        return cursor.rowcount


def hold_release(*, hold_id: int, user_id: int | None, force: bool = False) -> Hold:
    """Release a hold: its seats go back on sale at once.

    ``user_id`` ``None`` is the admin acting on anyone's hold; the admin may
    also ``force`` a release during payment (checkout then voids the payment).
    An expired or released hold is left as it is.
    """
    now = timezone.now()
    with locked_atomic():
        holds = Hold.objects.select_for_update().filter(pk=hold_id)
        if user_id is not None:
            holds = holds.filter(user_id=user_id)
        hold = holds.first()
        if hold is None:
            raise hold_not_found()
        if hold.status == Hold.Status.CHECKED_OUT:
            raise already_checked_out()
        if hold.status != Hold.Status.ACTIVE:
            return hold
        if hold.paying_until is not None and hold.paying_until > now and not force:
            raise checkout_in_progress()
        lapsed = hold.public_status(now=now) == Hold.Status.EXPIRED
        hold.status = Hold.Status.EXPIRED if lapsed else Hold.Status.RELEASED
        hold.paying_until = None
        hold.updated_at = now
        with connection.cursor() as cursor:  # seats and hold in one round trip
            cursor.execute(
                "WITH freed AS (" + seats_release_sql("hold_id = %s AND status = 'held'") + " RETURNING id) "
                "UPDATE reservations_hold SET status = %s, paying_until = NULL, updated_at = %s WHERE id = %s",
                [hold.id, hold.status, now, hold.id],
            )
    return hold


def holds_expire(*, batch: int = 500) -> int:
    """Release lapsed holds in bulk (the beat job). Rows another transaction
    is using are skipped (``SKIP LOCKED``) and picked up on the next run."""
    expired = 0
    while True:
        now = timezone.now()
        try:
            with locked_atomic():
                rows = list(
                    Hold.objects.select_for_update(skip_locked=True)
                    .filter(hold_lapsed_q(now))
                    .order_by("id")
                    .values_list("id", flat=True)[:batch]
                )
                if not rows:
                    return expired
                ids = rows
                seats_free_of_holds(hold_ids=ids)
                Hold.objects.filter(id__in=ids).update(status=Hold.Status.EXPIRED, paying_until=None, updated_at=now)
        except Busy:
            return expired
        expired += len(rows)
        if len(rows) < batch:
            return expired
