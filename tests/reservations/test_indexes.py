"""Every index on the booking tables earns its writes, and none misleads the planner.

A seat row is rewritten three times an order (held, being paid, sold), and
none of those updates can be HOT (they change indexed columns), so each
index on it costs an insert each time; holds, orders, tickets and payments
pay one per row. An index whose columns start another index's adds that
cost and serves no read the longer one does not. Foreign keys keep an
index that starts with their column (their deletes look rows up by it),
save the one documented exception; a key that is mostly NULL may keep a
partial one, ``WHERE column IS NOT NULL``, which every look-up by a key
value can use and a row without the key does not write.
"""

from __future__ import annotations

import pytest
from django.db import connection

from tests.reservations.conftest import make_users

pytestmark = pytest.mark.django_db

BOOKING_TABLES = (
    "reservations_seat",
    "reservations_hold",
    "reservations_order",
    "reservations_ticket",
    "reservations_payment",
    "reservations_shopper",
    "reservations_confirmation",
)
#: A price grade is looked up alone only when it is deleted (an admin's
#: action before a sale): a scan then is cheaper than three index writes an order.
FOREIGN_KEYS_WITHOUT_INDEX = {("reservations_seat", "grade_id")}


def _indexes() -> dict[str, list[tuple[str, tuple[str, ...], str | None]]]:
    """Per table: (index name, its key columns, its predicate or None)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, i.relname, pg_get_expr(x.indpred, x.indrelid),
                   array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n)
            FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
            WHERE t.relname = ANY(%s)
            """,
            [list(BOOKING_TABLES)],
        )
        found: dict[str, list[tuple[str, tuple[str, ...], str | None]]] = {}
        for table, index, predicate, columns in cursor.fetchall():
            found.setdefault(table, []).append((index, tuple(columns), predicate))
    return found


def _foreign_keys() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)
            """,
            [list(BOOKING_TABLES)],
        )
        return cursor.fetchall()


def test_no_index_is_the_start_of_another():
    redundant = [
        (table, name, longer)
        for table, indexes in _indexes().items()
        for name, columns, predicate in indexes
        for longer, other, other_predicate in indexes
        if longer != name
        and predicate is None
        and other_predicate is None
        and not name.endswith("_like")  # pattern-ops twins of unique text columns (Django's)
        and not name.endswith(("_pkey", "_key", "_uniq"))
        and other[: len(columns)] == columns
    ]
    assert redundant == []


def test_every_foreign_key_has_an_index_that_starts_with_it_but_the_documented_one():
    indexes = _indexes()
    uncovered = {
        (table, column)
        for table, column in _foreign_keys()
        if not any(
            columns[0] == column and predicate in (None, f"({column} IS NOT NULL)")
            for _, columns, predicate in indexes[table]
        )
    }
    assert uncovered == FOREIGN_KEYS_WITHOUT_INDEX


def _seat_index_entries_read() -> int:
    """Index entries the seat table's indexes returned in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0) FROM pg_index "
            "WHERE indrelid = 'reservations_seat'::regclass"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("global_held_index", [False, True])
def test_marking_a_hold_as_paid_for_reads_its_own_seats_not_every_held_one(make_event, global_held_index):
    """A sale's rows are missing from the statistics until the next
    autoanalyze. Then the planner took the partial index of every held seat
    (``seat_held_until``, dropped by migration 0011; put back here to show
    it) for small and ANDed it into a hold's seat read: each read walked
    every held seat's entry, so a sale's per-order work grew with the sale.
    Without it, twenty holds' reads return a few entries each."""
    if global_held_index:
        with connection.cursor() as cursor:
            cursor.execute("CREATE INDEX seat_held_until ON reservations_seat (held_until) WHERE status = 'held'")
    event = make_event("A:20x20:R:1000")
    users = make_users(150)
    seats = list(event.seats.order_by("id").values_list("id", flat=True))
    holds = []
    with connection.cursor() as cursor:
        for user, pair in zip(users, zip(seats[::2], seats[1::2], strict=True), strict=False):
            cursor.execute(
                "SELECT hold_id FROM booking_hold(%s, %s, %s, 2, now(), 600, 10, true, 0)",
                [event.id, user.id, list(pair)],
            )
            holds.append(cursor.fetchone()[0])
        before = _seat_index_entries_read()
        for hold in holds[:20]:
            cursor.execute("SELECT booking_hold_paying_set(%s, now() + interval '5 minutes', now())", [hold])
        read = _seat_index_entries_read() - before
    if global_held_index:
        assert read > 20 * 150  # every held seat's entry, for each of the twenty
    else:
        assert read <= 20 * 8  # its two seats by the hold, then by id
