"""Every index on the booking tables earns its writes.

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
        for table, index, partial, columns in cursor.fetchall():
            found.setdefault(table, []).append((index, tuple(columns), partial))
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
        for name, columns, partial in indexes
        for longer, other, other_partial in indexes
        if longer != name
        and not partial
        and not other_partial
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
