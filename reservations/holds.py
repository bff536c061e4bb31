"""The hold rule: claim seats for a few minutes, all or nothing.

``hold_create`` is the one function that decides whether a person may hold
seats. It runs in one short transaction (see ``reservations.locking`` for
the lock order): lock the person's row, lock the seats by ascending id
(best available: ``SKIP LOCKED``, so shoppers never queue on each other),
treat lapsed holds as free, check the per-person limit, write, commit.

Who may hold at all is not this rule: the admission gate
(``reservations.gates.admission_check``, the waiting queue's check) is a
separate, named check that the API composes with ``hold_create``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.errors import Conflict, Invalid
from reservations.availability import hold_lapsed_q, seat_free_q, seat_lapsed_sql
from reservations.errors import (
    already_checked_out,
    checkout_in_progress,
    error_messages,
    hold_not_found,
    limit_exceeded,
)
from reservations.locking import Busy, locked_atomic, locked_fetch_async, row_locks_enabled
from reservations.models import Event, Hold, PriceGrade, Seat

BEST_AVAILABLE_WINDOW = 64


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


#: One round trip: ``booking_hold`` in ``reservations/sql/booking_v1.sql``.
HOLD_SQL = (
    "SELECT * FROM booking_hold(%s::bigint, %s::bigint, %s::bigint[], %s::integer, %s::timestamptz,"
    " %s::integer, %s::integer, %s::boolean, %s::float8)"
)


def hold_sql_params(*, event: Event, user_id: int, seat_ids: list[int], wanted: int, now: datetime) -> list:
    """``HOLD_SQL``'s parameters; without row locks (a debug setting) the
    race window is widened so the concurrency tests can show the race."""
    locks = row_locks_enabled()
    pause = 0.0 if locks else float(settings.BOOKING_RACE_PAUSE_SECONDS)
    limit = event.max_tickets_per_user
    return [event.id, user_id, seat_ids, wanted, now, event.hold_seconds, limit, locks, pause]


def hold_from_rows(rows: list[tuple], *, event: Event, user_id: int, now: datetime) -> Hold:
    """``booking_hold``'s answer: the contract's error, or the hold it wrote
    with its seats as the answer shows them (``hold.seats_written``), so
    nobody reads the seats again."""
    outcome = rows[0][0]
    if outcome == "unknown_seat":
        unknown = [row[2] for row in rows]
        raise Invalid(
            "Some seats do not exist in this event.", fields={"seat_ids": [f"Unknown seat {i}." for i in unknown]}
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


def _hold_call(*, event: Event, user_id: int, seat_ids: list[int], wanted: int, now: datetime) -> Hold:
    """Run ``booking_hold`` on Django's connection (inside ``locked_atomic``)."""
    params = hold_sql_params(event=event, user_id=user_id, seat_ids=seat_ids, wanted=wanted, now=now)
    with connection.cursor() as cursor:
        cursor.execute(HOLD_SQL, params)
        rows = cursor.fetchall()
    return hold_from_rows(rows, event=event, user_id=user_id, now=now)


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
    if seat_ids is not None:
        if quantity is not None or grade is not None:
            raise Invalid("Give either seat_ids, or quantity and grade, not both.")
        ids = hold_by_ids_check(event=event, seat_ids=seat_ids, now=now)
        with locked_atomic():
            return _hold_call(event=event, user_id=user_id, seat_ids=ids, wanted=len(ids), now=now)
    if quantity is None or grade is None:
        raise Invalid("Give seat_ids, or quantity and grade.")
    if quantity < 1:
        raise Invalid("quantity must be at least 1.", fields={"quantity": ["Must be at least 1."]})
    if quantity >= 2**31:  # past any integer column, and twice it is the SQL LIMIT
        raise Invalid("quantity is too large.", fields={"quantity": ["Must be below 2147483648."]})
    price_grade = PriceGrade.objects.filter(event=event, code=grade).first()
    if price_grade is None:
        raise Invalid(f"This event has no grade {grade!r}.", fields={"grade": ["Unknown grade."]})
    event_sale_require(event=event, now=now)
    _limit_check(event=event, have=0, adding=quantity)
    return _hold_best_available(event=event, user_id=user_id, quantity=quantity, grade=price_grade, now=now)


def hold_by_ids_check(*, event: Event, seat_ids: list[int], now: datetime) -> list[int]:
    """What is checked before any seat is read: the ids (400), the sale
    (``event_sale_require``) and the limit's bound; the ids sorted (the
    lock order)."""
    if not seat_ids:
        raise Invalid("seat_ids is empty.", fields={"seat_ids": ["Choose at least one seat."]})
    if len(set(seat_ids)) != len(seat_ids):
        raise Invalid("seat_ids has duplicates.", fields={"seat_ids": ["A seat appears twice."]})
    if not all(0 < seat_id < 2**63 for seat_id in seat_ids):  # seat ids are positive bigints
        raise Invalid("seat_ids holds ids no seat can have.", fields={"seat_ids": ["Unknown seat."]})
    event_sale_require(event=event, now=now)
    _limit_check(event=event, have=0, adding=len(seat_ids))
    return sorted(seat_ids)


async def hold_by_ids_async(*, event: Event, user_id: int, seat_ids: list[int]) -> Hold:
    """``hold_create`` with ``seat_ids``, on the event loop (the booking fast
    path): the same checks, the same ``booking_hold``, one round trip."""
    now = timezone.now()
    ids = hold_by_ids_check(event=event, seat_ids=seat_ids, now=now)
    params = hold_sql_params(event=event, user_id=user_id, seat_ids=ids, wanted=len(ids), now=now)
    return hold_from_rows(await locked_fetch_async(HOLD_SQL, params), event=event, user_id=user_id, now=now)


def best_seats_pick(candidates: list[tuple[int, str, str, int]], quantity: int, *, fallback: bool = True) -> list[int]:
    """Pick ``quantity`` seats from candidates in quality order ``(id, section, row, number)``:
    the first run of consecutive numbers in one row, else (with ``fallback``) simply the best seats."""
    by_row: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for seat_id, section, row, number in candidates:
        by_row.setdefault((section, row), []).append((number, seat_id))
    for seats in by_row.values():
        seats.sort()
        for start in range(len(seats) - quantity + 1):
            block = seats[start : start + quantity]
            if block[-1][0] - block[0][0] == quantity - 1:
                return [seat_id for _, seat_id in block]
    return [seat_id for seat_id, *_ in candidates[:quantity]] if fallback else []


_BEST_WINDOW_SQL = (
    "SELECT s.id, s.section, s.row, s.number FROM reservations_seat s "
    "WHERE s.event_id = %s AND s.grade_id = %s AND {where} "
    "ORDER BY s.row_index, s.section, s.number LIMIT %s {lock}"
)


def _best_window(*, event: Event, grade: PriceGrade, size: int, now: datetime, lock: bool) -> list[tuple]:
    """The best free seats of the grade in quality order: free seats through
    the ``seat_best_available`` index, then (if short) seats of lapsed holds
    (lazy expiry). With ``lock``, ``FOR UPDATE SKIP LOCKED``: seats another
    shopper is taking right now are passed over, nobody waits."""
    lock_sql = "FOR UPDATE OF s SKIP LOCKED" if lock else ""
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        # Free seats first (the partial index), then seats of lapsed holds: together, ``seat_free_sql``.
        for where, extra in (("s.status = 'available'", []), (seat_lapsed_sql("s"), [now])):
            sql = _BEST_WINDOW_SQL.format(where=where, lock=lock_sql)
            cursor.execute(sql, [event.id, grade.id, *extra, size - len(rows)])
            rows += cursor.fetchall()
            if len(rows) >= size:
                break
    return rows


def _adjacent_block(candidates: list[tuple], quantity: int) -> list[int] | None:
    block = best_seats_pick(candidates, quantity, fallback=False)
    return block or None


def _hold_best_available(*, event: Event, user_id: int, quantity: int, grade: PriceGrade, now: datetime) -> Hold:
    """Lock a small window of the best free seats (``SKIP LOCKED``) and take an
    adjacent block from it; if the window has none, look further for a block
    and lock just that; else take the window's best seats. Every shopper
    locks only a few seats, so concurrent shoppers each get their own. The
    seats picked (or the short window: ``not_enough_seats``) go to
    ``booking_hold``, which checks the limit and writes, as for seats by id."""
    locks = row_locks_enabled()
    with locked_atomic(shopper=(event.id, user_id)):
        window = _best_window(event=event, grade=grade, size=quantity * 2, now=now, lock=locks)
        picked = _adjacent_block(window, quantity) if len(window) >= quantity else None
        if picked is None and len(window) >= quantity:
            further = _best_window(event=event, grade=grade, size=BEST_AVAILABLE_WINDOW, now=now, lock=False)
            block = _adjacent_block([row for row in further if row not in window], quantity)
            if block is not None and locks:
                got = (
                    Seat.objects.filter(id__in=block)
                    .filter(seat_free_q(now))
                    .order_by("id")
                    .select_for_update(skip_locked=True)
                    .values_list("id", flat=True)
                )
                block = block if len(got) == quantity else None
            picked = block or [seat_id for seat_id, *_ in window[:quantity]]
        seats = sorted(picked if picked is not None else [row[0] for row in window])
        return _hold_call(event=event, user_id=user_id, seat_ids=seats, wanted=quantity, now=now)


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
