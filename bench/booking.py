#!/usr/bin/env python3
"""Hold throughput and latency through the project's own service code, against
raw SQL on the same seat table as the ceiling, at 32 concurrent workers.

    DATABASE_URL=... REDIS_URL=... python bench/booking.py

Three workloads, each run in alternating rounds of raw SQL and project code
(medians are reported, so outside load hits both alike):

* ``distinct``: every shopper holds 2 seats nobody else wants.
* ``hot``: every shopper fights for 2 random adjacent seats of one block of
  100 seats, and releases them at once when it wins (so the block stays hot).
* ``best_available``: every shopper asks for the best 2 seats of one grade.

The project path is ``reservations.holds.hold_create`` (and ``hold_release``)
with all its checks: the person's row lock, ``lock_timeout``, lazy expiry,
the per-person limit, the hold row, the seat-map cache invalidation. The raw
path is one psycopg connection per worker doing ``SELECT ... FOR UPDATE`` +
``UPDATE`` of the same seats. Workers are processes (forked), 32 at once.
Afterwards every successful hold is checked against every other: a seat in
two holds at once is a double hold. The last line is one JSON object.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
os.environ.setdefault("DB_POOL", "0")  # forked workers each open their own plain connection
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.errors import ApplicationError  # noqa: E402
from reservations.holds import hold_create, hold_release  # noqa: E402
from reservations.models import Hold, PriceGrade, Seat  # noqa: E402
from reservations.services import event_create  # noqa: E402

WORKERS = 32
ROUNDS = 3  # each workload runs raw, project, raw, project, ...; figures are medians
HOLDS_PER_WORKER = 50  # per round, distinct and best available
HOT_ATTEMPTS_PER_WORKER = 50
KINDS = ("distinct", "hot", "best_available")
SEATS_PER_HOLD = 2
CONTRACT_409 = {"seat_unavailable", "limit_exceeded", "not_enough_seats"}


def _conninfo() -> str:
    db = settings.DATABASES["default"]
    parts = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"], "host": db["HOST"]}
    if db.get("PORT"):
        parts["port"] = db["PORT"]
    return " ".join(f"{k}='{v}'" for k, v in parts.items() if v)


# --- one worker -------------------------------------------------------------------


def _project_op(kind: str, plan: dict[str, Any], worker: int, i: int, rng: random.Random) -> tuple[str, Any]:
    event = plan["event"]
    user_id = plan["users"][worker * plan["per_worker"] + i] if kind != "hot" else plan["users"][worker]
    try:
        if kind == "distinct":
            start = (worker * plan["per_worker"] + i) * SEATS_PER_HOLD
            hold = hold_create(event=event, user_id=user_id, seat_ids=plan["seats"][start : start + SEATS_PER_HOLD])
        elif kind == "best_available":
            hold = hold_create(event=event, user_id=user_id, quantity=SEATS_PER_HOLD, grade=plan["grade"])
        else:
            first = rng.randrange(len(plan["seats"]) - 1)
            hold = hold_create(event=event, user_id=user_id, seat_ids=plan["seats"][first : first + 2])
    except ApplicationError as exc:
        return ("409" if exc.code in CONTRACT_409 else f"error:{exc.code}"), None
    except Exception as exc:
        return f"error:{type(exc).__name__}", None
    return "ok", (hold.id, list(hold.seat_ids))


def _raw_op(kind: str, plan: dict[str, Any], worker: int, i: int, rng: random.Random, conn: Any) -> tuple[str, Any]:
    until = timezone.now() + timedelta(minutes=7)
    try:
        with conn.transaction(), conn.cursor() as cur:
            if kind == "best_available":
                cur.execute(
                    "SELECT id FROM reservations_seat WHERE event_id = %s AND grade_id = %s AND status = 'available' "
                    "ORDER BY row_index, section, number LIMIT %s FOR UPDATE SKIP LOCKED",
                    [plan["event"].id, plan["grade_id"], SEATS_PER_HOLD],
                )
                ids = [r[0] for r in cur.fetchall()]
                if len(ids) < SEATS_PER_HOLD:
                    return "409", None
            else:
                if kind == "distinct":
                    start = (worker * plan["per_worker"] + i) * SEATS_PER_HOLD
                    ids = plan["seats"][start : start + SEATS_PER_HOLD]
                else:
                    first = rng.randrange(len(plan["seats"]) - 1)
                    ids = plan["seats"][first : first + 2]
                cur.execute("SELECT id, status FROM reservations_seat WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids])
                if any(status != "available" for _, status in cur.fetchall()):
                    return "409", None
            cur.execute(
                "UPDATE reservations_seat SET status = 'held', hold_id = %s, held_until = %s WHERE id = ANY(%s)",
                [plan["raw_hold"], until, ids],
            )
    except psycopg.Error as exc:
        return f"error:{type(exc).__name__}", None
    return "ok", (f"raw-{worker}-{i}", ids)


def _raw_release(conn: Any, ids: list[int]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT id FROM reservations_seat WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids])
        cur.execute(
            "UPDATE reservations_seat SET status = 'available', hold_id = NULL, held_until = NULL WHERE id = ANY(%s)",
            [ids],
        )


def _worker(mode: str, kind: str, plan: dict[str, Any], worker: int, barrier: Any, out: Any) -> None:
    rng = random.Random(worker)
    conn = psycopg.connect(_conninfo()) if mode == "raw" else None
    if mode == "project":
        connections["default"].ensure_connection()
    ops = HOT_ATTEMPTS_PER_WORKER if kind == "hot" else plan["per_worker"]
    latencies: list[float] = []
    outcomes: Counter = Counter()
    wins: list[tuple[Any, list[int], float, float]] = []
    barrier.wait()
    for i in range(ops):
        started = time.perf_counter()
        if mode == "project":
            outcome, won = _project_op(kind, plan, worker, i, rng)
        else:
            outcome, won = _raw_op(kind, plan, worker, i, rng, conn)
        held_at = time.perf_counter()
        latencies.append(held_at - started)
        outcomes[outcome] += 1
        if won is None:
            continue
        released_at = float("inf")
        if kind == "hot":  # keep the block hot: give the seats back at once
            released_at = time.perf_counter()
            if mode == "project":
                hold_release(hold_id=won[0], user_id=plan["users"][worker])
            else:
                _raw_release(conn, won[1])
        wins.append((won[0], won[1], held_at, released_at))
    out.put({"latencies": latencies, "outcomes": dict(outcomes), "wins": wins, "done": time.perf_counter()})
    connections.close_all()
    if conn is not None:
        conn.close()


# --- the run ----------------------------------------------------------------------


def _run(mode: str, kind: str, plan: dict[str, Any]) -> dict[str, Any]:
    connections.close_all()
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(WORKERS + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(mode, kind, plan, w, barrier, out)) for w in range(WORKERS)]
    for proc in procs:
        proc.start()
    barrier.wait()
    started = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = max(r["done"] for r in results) - started
    latencies = sorted(x for r in results for x in r["latencies"])
    outcomes: Counter = Counter()
    for r in results:
        outcomes.update(r["outcomes"])
    wins = [w for r in results for w in r["wins"]]
    return {
        "attempts_per_s": round(len(latencies) / elapsed, 1),
        "holds_per_s": round(len(latencies) / elapsed, 1),
        "succeeded": outcomes["ok"],
        "conflicts_409": outcomes["409"],
        "errors": sum(n for k, n in outcomes.items() if k.startswith("error")),
        "error_kinds": {k: n for k, n in outcomes.items() if k.startswith("error")},
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "seconds": round(elapsed, 2),
        "double_holds": _double_holds(wins),
    }


def _double_holds(wins: list[tuple[Any, list[int], float, float]]) -> int:
    """Seats that two successful holds had at the same time (interval overlap per seat)."""
    by_seat: dict[int, list[tuple[float, float]]] = {}
    for _, seat_ids, held_at, released_at in wins:
        for seat in seat_ids:
            by_seat.setdefault(seat, []).append((held_at, released_at))
    doubles = 0
    for spans in by_seat.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end:
                doubles += 1
    return doubles


def _setup(tag: str) -> dict[str, dict[str, Any]]:
    """One fresh event per workload, mode and round; fresh shoppers for every hold."""
    call_command("migrate", verbosity=0)
    per_round = WORKERS * HOLDS_PER_WORKER
    users_needed = ROUNDS * 2 * per_round + WORKERS + 1
    password = make_password("bench-password")
    user_model = get_user_model()
    user_model.objects.bulk_create(
        [user_model(username=f"bench-{tag}-{i}", password=password) for i in range(users_needed)], batch_size=2000
    )
    users = list(
        user_model.objects.filter(username__startswith=f"bench-{tag}-").order_by("id").values_list("id", flat=True)
    )
    rows = per_round * SEATS_PER_HOLD // 100 + 1
    plans: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        for r in range(ROUNDS):
            for mode in ("project", "raw"):
                sections = "A:1x100:R:100000" if kind == "hot" else f"A:{rows}x100:R:100000"
                event = event_create(
                    name=f"bench {tag} {kind} {mode} {r}",
                    venue_name="Bench Arena",
                    sections=sections,
                    queue_enabled=False,
                )
                grade = PriceGrade.objects.get(event=event, code="R")
                raw_hold = Hold.objects.create(
                    event=event, user_id=users[-1], expires_at=timezone.now() + timedelta(hours=1)
                )
                if kind == "hot":
                    shoppers = users[-WORKERS - 1 : -1]
                else:
                    first = (2 * r + (kind == "best_available")) * per_round
                    shoppers = users[first : first + per_round]
                plans[f"{kind}/{mode}/{r}"] = {
                    "event": event,
                    "grade": "R",
                    "grade_id": grade.id,
                    "raw_hold": raw_hold.id,
                    "seats": list(Seat.objects.filter(event=event).order_by("id").values_list("id", flat=True)),
                    "users": shoppers,
                    "per_worker": HOLDS_PER_WORKER,
                }
    return plans


def _db_double_holds(plans: dict[str, dict[str, Any]]) -> int:
    """In the database: no two live project holds may list the same seat."""
    doubles = 0
    for key, plan in plans.items():
        if "/project/" not in key:
            continue
        claims = Counter(
            seat
            for ids in Hold.objects.filter(event=plan["event"], status="active").values_list("seat_ids", flat=True)
            for seat in ids
        )
        doubles += sum(n - 1 for n in claims.values() if n > 1)
    return doubles


def _seat_map_figures(tag: str) -> dict[str, float]:
    """Time to answer a 50,000-seat map (query + JSON), without and with the cached layout."""
    from django.core.cache import cache

    from reservations.selectors import seat_layout_cache_key, seat_map

    event = event_create(
        name=f"bench {tag} seat map", venue_name="Bench Arena", sections="A:250x200:R:100000", queue_enabled=False
    )
    cache.delete(seat_layout_cache_key(event.id))
    timings = []
    for _ in range(4):
        started = time.perf_counter()
        body = json.dumps({"seats": seat_map(event_id=event.id)})
        timings.append((time.perf_counter() - started) * 1000)
    return {"seats": 50_000, "cold_ms": round(timings[0], 1), "warm_ms": round(min(timings[1:]), 1), "bytes": len(body)}


def main() -> None:
    tag = str(int(time.time()))
    plans = _setup(tag)
    figures: dict[str, Any] = {"workers": WORKERS, "seats_per_hold": SEATS_PER_HOLD, "rounds": ROUNDS}
    figures["seat_map"] = _seat_map_figures(tag)
    print(f"seat map (50,000 seats, query + JSON): {figures['seat_map']}", flush=True)
    double_holds = 0
    errors = 0
    for kind in KINDS:
        raws, projects = [], []
        for r in range(ROUNDS):  # alternate, so load from outside hits both alike
            raws.append(_run("raw", kind, plans[f"{kind}/raw/{r}"]))
            projects.append(_run("project", kind, plans[f"{kind}/project/{r}"]))
        double_holds += sum(x["double_holds"] for x in raws + projects)
        errors += sum(x["errors"] for x in projects)
        project_rate = statistics.median(x["holds_per_s"] for x in projects)
        raw_rate = statistics.median(x["holds_per_s"] for x in raws)
        figures[kind] = {
            "holds_per_s": project_rate,
            "p99_ms": statistics.median(x["p99_ms"] for x in projects),
            "raw_per_s": raw_rate,
            "raw_p99_ms": statistics.median(x["p99_ms"] for x in raws),
            "ratio": round(project_rate / raw_rate, 3),
            "succeeded": sum(x["succeeded"] for x in projects),
            "conflicts_409": sum(x["conflicts_409"] for x in projects),
            "rounds": {"project": projects, "raw": raws},
        }
        f = figures[kind]
        print(
            f"{kind:15s} project {f['holds_per_s']:8.1f}/s p99 {f['p99_ms']:7.2f} ms"
            f" (ok {f['succeeded']}, 409 {f['conflicts_409']})"
            f" | raw {f['raw_per_s']:8.1f}/s p99 {f['raw_p99_ms']:7.2f} ms"
            f" | ratio {f['ratio']:.3f}",
            flush=True,
        )
    double_holds += _db_double_holds(plans)
    figures["double_holds"] = double_holds
    figures["errors"] = errors
    print(json.dumps({"booking": figures}))


if __name__ == "__main__":
    main()
