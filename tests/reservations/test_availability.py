"""Every form of the availability rule gives the same answer on the same rows.

The rows are made by the real writers (``hold_create``, ``checkout_begin``,
``checkout``): a free seat, seats of a live hold, seats of a hold being paid
for past its expiry, and sold seats, each read at moments before and after
the expiry and the end of the payment window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from reservations import availability as av
from reservations.checkout import checkout, checkout_begin
from reservations.holds import hold_create
from reservations.models import Hold, Seat
from tests.reservations.conftest import make_users, seat_ids


def _sql_ids(table: str, alias: str, fragment: str, params: list[Any], ids: list[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {alias}.id FROM {table} {alias} WHERE {alias}.id = ANY(%s) AND {fragment}", [ids, *params]
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def rows(make_event: Any) -> dict[str, Any]:
    event = make_event("A:1x8:R:1000", max_per_user=4, hold_seconds=5)
    ids = seat_ids(event)
    live_user, paying_user, buyer = make_users(3, prefix="avail")
    live = hold_create(event=event, user_id=live_user.id, seat_ids=ids[1:3])
    paying = hold_create(event=event, user_id=paying_user.id, seat_ids=ids[3:5])
    begun = checkout_begin(
        hold_id=paying.id, user_id=paying_user.id, idempotency_key="avail-paying", payment_token="tok_ok"
    )
    assert begun.payment is not None
    sold = hold_create(event=event, user_id=buyer.id, seat_ids=ids[5:7])
    checkout(hold_id=sold.id, user_id=buyer.id, payment_token="tok_ok", idempotency_key="avail-sold")
    paying.refresh_from_db()
    live.refresh_from_db()
    assert paying.paying_until is not None and paying.paying_until > paying.expires_at
    return {"event": event, "seats": ids, "holds": [live.id, paying.id, sold.id], "live": live, "paying": paying}


def _moments(rows: dict[str, Any]) -> list[datetime]:
    live, paying = rows["live"], rows["paying"]
    second = timedelta(seconds=1)
    return [
        live.created_at,  # everything held is live
        live.expires_at + second,  # plain holds lapsed; the paying one is still live
        paying.paying_until + second,  # the payment window is over too
    ]


def test_seat_forms_agree(rows: dict[str, Any]) -> None:
    ids = rows["seats"]
    for now in _moments(rows):
        seats = {s.id: s for s in Seat.objects.filter(id__in=ids)}
        python_free = {i for i, s in seats.items() if av.seat_is_free(s.status, s.held_until, now)}
        q_free = set(Seat.objects.filter(av.seat_free_q(now), id__in=ids).values_list("id", flat=True))
        sql_free = _sql_ids("reservations_seat", "s", av.seat_free_sql("s"), [now], ids)
        # The stored functions' form (reservations/sql/booking_v1.sql).
        function_free = _sql_ids("reservations_seat", "s", "booking_seat_free(s.status, s.held_until, %s)", [now], ids)
        assert python_free == q_free == sql_free == function_free
        sql_held_live = _sql_ids("reservations_seat", "s", av.seat_held_live_sql("s"), [now], ids)
        sql_lapsed = _sql_ids("reservations_seat", "s", av.seat_lapsed_sql("s"), [now], ids)
        held = {i for i, s in seats.items() if s.status == Seat.Status.HELD}
        assert sql_held_live | sql_lapsed == held and not sql_held_live & sql_lapsed
        assert python_free == {i for i, s in seats.items() if s.status == Seat.Status.AVAILABLE} | sql_lapsed
        public = {i: av.seat_public_status(s.status, s.held_until, now) for i, s in seats.items()}
        assert {i for i, status in public.items() if status == Seat.Status.AVAILABLE} == python_free


def test_hold_forms_agree_with_each_other_and_with_their_seats(rows: dict[str, Any]) -> None:
    hold_ids, seat_ids_ = rows["holds"], rows["seats"]
    answers = []
    for now in _moments(rows):
        holds = {h.id: h for h in Hold.objects.filter(id__in=hold_ids)}
        python_live = {i for i, h in holds.items() if av.hold_is_live(h.status, h.expires_at, h.paying_until, now)}
        q_live = set(Hold.objects.filter(av.hold_live_q(now), id__in=hold_ids).values_list("id", flat=True))
        q_lapsed = set(Hold.objects.filter(av.hold_lapsed_q(now), id__in=hold_ids).values_list("id", flat=True))
        sql_live = _sql_ids("reservations_hold", "h", av.hold_live_sql("h"), [now, now], hold_ids)
        model_live = {i for i, h in holds.items() if h.public_status(now=now) == Hold.Status.ACTIVE}
        function_live = _sql_ids(
            "reservations_hold", "h", "booking_hold_live(h.status, h.expires_at, h.paying_until, %s)", [now], hold_ids
        )
        assert python_live == q_live == sql_live == model_live == function_live
        active = {i for i, h in holds.items() if h.status == Hold.Status.ACTIVE}
        assert q_lapsed == active - q_live
        # A seat is held live exactly when its hold is live.
        seat_live = _sql_ids("reservations_seat", "s", av.seat_held_live_sql("s"), [now], seat_ids_)
        seats_of_live = set(Seat.objects.filter(hold_id__in=python_live, status="held").values_list("id", flat=True))
        assert seat_live == seats_of_live
        # The per-person count of the limit: each person's live seats.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT booking_shopper_seats(h.event_id, h.user_id, %s) FROM reservations_hold h WHERE h.id = ANY(%s)",
                [now, hold_ids],
            )
            counts = [row[0] for row in cursor.fetchall()]
        assert sorted(counts) == sorted(
            2 if (i in python_live or holds[i].status == Hold.Status.CHECKED_OUT) else 0 for i in hold_ids
        )
        answers.append(python_live)
    live, paying = rows["live"].id, rows["paying"].id
    # Before expiry both live; after expiry only the hold being paid for; after the payment window neither.
    assert answers == [{live, paying}, {paying}, set()]
