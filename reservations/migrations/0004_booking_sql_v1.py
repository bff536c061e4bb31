"""Install the booking path's SQL functions, version 1 (``reservations/sql/booking_v1.sql``)."""

from pathlib import Path

from django.db import migrations

SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "booking_v1.sql"

FUNCTIONS = (
    "booking_sale(bigint, text, text[], timestamptz)",
    "booking_checkout_fail(bigint, text, text, timestamptz)",
    "booking_checkout_begin(bigint, bigint, text, boolean, timestamptz, timestamptz)",
    "booking_hold_paying_set(bigint, timestamptz, timestamptz)",
    "booking_hold_best(bigint, bigint, bigint, integer, timestamptz, integer, integer, boolean, double precision)",
    "booking_adjacent_block(bigint[], integer)",
    "booking_best_window(bigint, bigint, integer, timestamptz, boolean, bigint[])",
    "booking_hold(bigint, bigint, bigint[], integer, timestamptz, integer, integer, boolean, double precision)",
    "booking_shopper_seats(bigint, bigint, timestamptz)",
    "booking_hold_live(text, timestamptz, timestamptz, timestamptz)",
    "booking_seat_free(text, timestamptz, timestamptz)",
)


class Migration(migrations.Migration):
    dependencies = [("reservations", "0003_payment_reconciliation_outbox")]

    operations = [
        migrations.RunSQL(
            sql=SQL_FILE.read_text(),
            reverse_sql="".join(f"DROP FUNCTION IF EXISTS {signature};" for signature in FUNCTIONS),
        )
    ]
