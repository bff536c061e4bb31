#!/usr/bin/env python3
"""PostgreSQL CPU per booking step: the stored functions alone, one caller.

    python bench/booking_sql.py              # 2,000 buyers
    python bench/booking_sql.py --buyers 5000

``bench/orders.py`` measures a whole order on the whole stack; on a shared,
noisy 2-core machine its PostgreSQL share moves with the load around. This
one isolates that share: a fresh database ``bench_booking_sql`` (migrated,
the buyers and an event of as many seats made as ``bench/orders.py`` makes
them), then one autocommit connection calls, for each buyer in turn, the
statements a purchase sends (the token look-up, ``booking_hold``,
``booking_checkout_begin``, ``booking_sale``) exactly as the fast path
sends them (prepared after five runs). CPU is read from
``/proc/<backend pid>/stat`` (user + system) around each step, summed per
step; nothing else runs on that backend, and with one caller there is no
lock wait, so the figure is the statement's own cost. ``--callers N``
shares the buyers among N connections calling at once, as the web
workers' pools do: what their meeting costs (row locks on the shared
event row taken by foreign-key checks, for one) shows in the difference. The last line is one
JSON object: ``cpu_ms_per_call`` by step and ``cpu_ms_per_order``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "bench_booking_sql"
CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _backend_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_MS


def _setup(server: str, buyers: int) -> tuple[str, int, list[tuple[str, int]]]:
    """A migrated database with ``buyers`` buyers (tokens) and an event of as many seats."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    url = f"{server}/{DATABASE}"
    os.environ.update(DJANGO_SETTINGS_MODULE="ticketing.settings", DATABASE_URL=url, DB_POOL="0", DEBUG="0")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connections

    from accounts.services import tokens_issue
    from reservations.models import Seat
    from reservations.services import event_create

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    password = make_password(uuid.uuid4().hex)
    user_model.objects.bulk_create(
        [user_model(username=f"b{i}", email=f"b{i}@example.com", password=password) for i in range(buyers)],
        batch_size=2000,
    )
    ids = list(user_model.objects.order_by("id").values_list("id", flat=True))
    tokens = tokens_issue(user_ids=ids)
    rows = (buyers + 24) // 25
    event = event_create(
        name="SQL bench",
        venue_name="Bench Arena",
        sections=f"A:{rows}x25:R:10000",
        queue_enabled=False,
        max_per_user=1,
    )
    seats = list(Seat.objects.filter(event=event).order_by("id").values_list("id", flat=True))
    connections.close_all()
    return url, event.id, [(tokens[u], s) for u, s in zip(ids, seats, strict=False)]


def _purchases(url: str, event_id: int, plan: list[tuple[str, int]], spent: dict[str, float]) -> None:
    """One caller: each purchase's statements in turn on its own connection,
    the CPU of its backend added to ``spent`` by step."""
    from django.db import connections
    from django.utils import timezone
    from knox.crypto import hash_token

    from accounts.authentication import _cold_sql
    from reservations.checkout import BEGIN_SQL, SALE_SQL, begin_sql_params, ticket_codes
    from reservations.holds import HOLD_SQL, hold_sql_params
    from reservations.models import Event

    event = Event.objects.get(pk=event_id)
    with psycopg.connect(url, autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        for token, seat in plan:
            now = timezone.now()
            before = _backend_cpu_ms(pid)
            user_id = conn.execute(_cold_sql(), [hash_token(token)]).fetchone()[1]
            mark = _backend_cpu_ms(pid)
            spent["token"] += mark - before
            params = hold_sql_params(event=event, user_id=user_id, seats=[seat], wanted=1, now=now)
            hold_id = conn.execute(HOLD_SQL, params).fetchall()[0][1]
            before, mark = mark, _backend_cpu_ms(pid)
            spent["hold"] += mark - before
            key = uuid.uuid4().hex
            begin = begin_sql_params(
                hold_id=hold_id, user_id=user_id, idempotency_key=key, payment_token="tok_ok", now=now
            )
            payment_id = conn.execute(BEGIN_SQL, begin).fetchall()[0][1]
            before, mark = mark, _backend_cpu_ms(pid)
            spent["checkout_begin"] += mark - before
            rows = conn.execute(
                SALE_SQL, [payment_id, f"ch_{key}", ticket_codes(1), now + timedelta(milliseconds=5)]
            ).fetchall()
            assert rows[0][0] == "sold", rows[0]
            before, mark = mark, _backend_cpu_ms(pid)
            spent["sale"] += mark - before
    connections.close_all()


def _run(url: str, event_id: int, plan: list[tuple[str, int]], callers: int) -> dict[str, float]:
    """The purchases shared among ``callers`` threads, each on its own
    connection (with more than one, the statements meet each other's locks
    as they do under the web workers' pools)."""
    spent = [{"token": 0.0, "hold": 0.0, "checkout_begin": 0.0, "sale": 0.0} for _ in range(callers)]
    threads = [
        threading.Thread(target=_purchases, args=(url, event_id, plan[i::callers], spent[i])) for i in range(callers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {step: sum(s[step] for s in spent) for step in spent[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--callers", type=int, default=1, help="connections calling at once")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    url, event_id, plan = _setup(args.postgres, args.buyers)
    try:
        started = time.perf_counter()
        spent = _run(url, event_id, plan, args.callers)
        seconds = time.perf_counter() - started
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    orders = len(plan)
    result = {
        "orders": orders,
        "callers": args.callers,
        "seconds": round(seconds, 3),
        "cpu_ms_per_call": {step: round(ms / orders, 3) for step, ms in spent.items()},
        "cpu_ms_per_order": round(sum(spent.values()) / orders, 3),
        "loadavg": os.getloadavg()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
