#!/usr/bin/env python3
"""Door check-in on the real stack: scans per second and CPU per scan while
door staff scan every ticket of an event, then scan some a second time.

    python bench/checkin.py                  # 5,000 tickets, 32 scanners
    python bench/checkin.py --tickets 20000 --scanners 64

Setup (not measured): a fresh database ``bench_checkin`` on the PostgreSQL
server (``--postgres``), migrated; a private ``redis-server``; one event
whose every seat is sold, its tickets written in bulk (one order); a staff
user and its API token. Then uvicorn (``ticketing.asgi:application``, 2
workers) starts; check-in needs no Celery.

``--scanners`` asyncio clients (door phones), each on one keep-alive
connection, share the tickets in a shuffled order and ``POST /api/checkin/``
``{"code", "event"}`` with ``Authorization: Token``, each sending its next
scan when the last one answered. After every ticket was scanned once, the
first ``--rescans`` are scanned again (409 ``already_checked_in``, the
answer a door gives a copied ticket). A warm-up of 200 scans of a second
event comes first.

Measured: wall time (scans per second), the latency of every scan, and CPU
from /proc for the uvicorn tree, the PostgreSQL backends of this database
(``bench.orders.CpuMeter``, which also says what other databases did in
the window), the private Redis and this process; afterwards the database
is asked how many tickets are checked in (each exactly once: no ticket may
be checked in by two scans). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import orders  # noqa: E402
from bench.support import (  # noqa: E402
    free_port,
    start_private_redis,
    uvicorn_command,
    wait_until_healthy,
)

DATABASE = "bench_checkin"
orders.DATABASE = DATABASE  # the CPU meter and the database helpers of bench/orders.py work on this one
SEATS_PER_ROW = 50
WARMUP_TICKETS = 200
GROUPS = ("web", "postgres", "redis", "loadgen")
SERVER_GROUPS = ("web", "postgres", "redis")


def _setup(tickets: int) -> dict[str, Any]:
    """Migrate; two events with every seat sold (the measured one and the
    warm-up's), their tickets; the door's staff token."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from accounts.services import token_issue
    from reservations.models import Hold, Order, Seat, Ticket
    from reservations.services import event_create

    call_command("migrate", verbosity=0)
    users = get_user_model().objects
    staff = users.create_user(username="door", password=secrets.token_hex(8), is_staff=True)
    buyer = users.create_user(username="holder", password=secrets.token_hex(8))

    def sold_out(name: str, count: int) -> tuple[int, list[str]]:
        rows = math.ceil(count / SEATS_PER_ROW)
        event = event_create(
            name=name, venue_name="Bench Stadium", sections=f"A:{rows}x{SEATS_PER_ROW}:R:1000", queue_enabled=False
        )
        seats = list(Seat.objects.filter(event=event).order_by("id")[:count])
        now = timezone.now()
        hold = Hold.objects.create(event=event, user=buyer, status=Hold.Status.CHECKED_OUT, expires_at=now)
        order = Order.objects.create(event=event, user=buyer, hold=hold, total=1000 * count, currency=event.currency)
        Seat.objects.filter(id__in=[s.id for s in seats]).update(status=Seat.Status.SOLD)
        made = Ticket.objects.bulk_create(
            [
                Ticket(order=order, event=event, user=buyer, seat=s, code=secrets.token_urlsafe(16), price=1000)
                for s in seats
            ],
            batch_size=5000,
        )
        return event.id, [t.code for t in made]

    event_id, codes = sold_out("Check-in bench", tickets)
    warm_id, warm_codes = sold_out("Check-in bench warm-up", WARMUP_TICKETS)
    token = token_issue(user=staff)
    connections.close_all()
    random.Random(7).shuffle(codes)
    return {"event": event_id, "codes": codes, "warm_event": warm_id, "warm_codes": warm_codes, "token": token}


async def _scan_all(port: int, token: str, event_id: int, codes: list[str], scanners: int) -> tuple[Counter, list]:
    """``scanners`` keep-alive clients work through ``codes``, one scan at a time each."""
    statuses: Counter = Counter()
    latencies: list[float] = []
    pending = iter(codes)

    async def scanner() -> None:
        client = orders.Client(port, keepalive=True)
        try:
            for code in pending:
                try:
                    status, _, ms = await client.post("/api/checkin/", token, {"code": code, "event": event_id}, {})
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    statuses[f"error:{type(exc).__name__}"] += 1
                    continue
                statuses[str(status)] += 1
                latencies.append(ms)
        finally:
            client.close()

    await asyncio.gather(*(scanner() for _ in range(scanners)))
    return statuses, latencies


def _checked_in(event_id: int) -> dict[str, int]:
    from django.db import connections

    from reservations.models import Ticket

    tickets = Ticket.objects.filter(event_id=event_id)
    result = {
        "checked_in": tickets.filter(status=Ticket.Status.CHECKED_IN).count(),
        "valid": tickets.filter(status=Ticket.Status.VALID).count(),
    }
    connections.close_all()
    return result


def _measure(args: argparse.Namespace, plan: dict[str, Any], port: int, meter: orders.CpuMeter) -> dict[str, Any]:
    warm, _ = asyncio.run(_scan_all(port, plan["token"], plan["warm_event"], plan["warm_codes"], args.scanners))
    print(f"warm-up: {dict(warm)}", flush=True)
    if warm.get("200") != WARMUP_TICKETS:
        raise RuntimeError("the warm-up did not check its tickets in: see the logs")
    loadavg = os.getloadavg()[0]
    start = meter.snapshot()
    started = time.perf_counter()
    first, first_ms = asyncio.run(_scan_all(port, plan["token"], plan["event"], plan["codes"], args.scanners))
    first_s = time.perf_counter() - started
    again_started = time.perf_counter()
    rescans = plan["codes"][: args.rescans]
    again, again_ms = asyncio.run(_scan_all(port, plan["token"], plan["event"], rescans, args.scanners))
    again_s = time.perf_counter() - again_started
    end = meter.snapshot()
    cpu_ms, notes = meter.delta_ms(start, end)
    machine = notes["machine_cpu_ms"]
    machine["other_processes"] = round(machine["busy"] - sum(v for v in cpu_ms.values() if v is not None))
    scans = len(first_ms) + len(again_ms)
    per_scan = {g: (round(cpu_ms[g] / scans, 3) if scans and cpu_ms[g] is not None else None) for g in GROUPS}
    server = [per_scan[g] for g in SERVER_GROUPS]
    return {
        "tickets": len(plan["codes"]),
        "scanners": args.scanners,
        "web_workers": args.workers,
        "first_scans": dict(first),
        "first_seconds": round(first_s, 3),
        "scans_per_s": round(len(first_ms) / first_s, 1),
        "scan_p50_ms": orders._percentile(first_ms, 0.5),
        "scan_p99_ms": orders._percentile(first_ms, 0.99),
        "scan_max_ms": orders._percentile(first_ms, 1.0),
        "rescans": dict(again),
        "rescans_per_s": round(len(again_ms) / again_s, 1) if again_s else None,
        "rescan_p50_ms": orders._percentile(again_ms, 0.5),
        "rescan_p99_ms": orders._percentile(again_ms, 0.99),
        **{f"db_{k}": v for k, v in _checked_in(plan["event"]).items()},
        "server_cpu_ms_per_scan": round(sum(server), 3) if None not in server else None,
        "cpu_ms_per_scan": per_scan,
        "cpu_ms": {g: (round(v, 1) if v is not None else None) for g, v in cpu_ms.items()},
        **notes,
        "loadavg": [round(loadavg, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5000, help="tickets of the event, each scanned once")
    parser.add_argument("--rescans", type=int, default=1000, help="tickets scanned a second time afterwards")
    parser.add_argument("--scanners", type=int, default=32, help="door phones scanning at once")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="the PostgreSQL server")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    logs = Path(tempfile.mkdtemp(prefix="bench-checkin-"))
    procs: dict[str, Any] = {}
    redis = start_private_redis()
    monitor: psycopg.Connection | None = None
    database_created = False
    ok = False
    try:
        database_url = orders._database_create(args.postgres)
        database_created = True
        env = orders._stack_env(database_url, os.environ["REDIS_URL"])
        os.environ.update(env)
        os.environ["DB_POOL"] = "0"
        import django

        django.setup()
        plan = _setup(args.tickets)
        port = free_port()
        with open(logs / "web.log", "w") as log:
            procs["web"] = subprocess.Popen(
                uvicorn_command("ticketing.asgi:application", port, args.workers),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until_healthy(procs["web"], port)
        print(f"setup: {args.tickets} tickets of event {plan['event']}; uvicorn :{port}; logs in {logs}", flush=True)
        monitor = psycopg.connect(database_url, autocommit=True, application_name=orders.MONITOR_APP)
        meter = orders.CpuMeter({"web": [procs["web"].pid], "redis": [redis.pid]}, orders._postmaster(monitor), monitor)
        result = _measure(args, plan, port, meter)
        ok = True
    finally:
        orders.stack_stop(procs, redis, monitor, logs, ok=ok, postgres=args.postgres if database_created else None)
        if ok:
            shutil.rmtree(logs, ignore_errors=True)
    print(
        f"{result['tickets']} tickets scanned in {result['first_seconds']} s: {result['scans_per_s']} scans/s, "
        f"p50 {result['scan_p50_ms']} ms, p99 {result['scan_p99_ms']} ms; statuses {result['first_scans']}\n"
        f"rescans {result['rescans']} p50 {result['rescan_p50_ms']} ms; checked in {result['db_checked_in']}, "
        f"still valid {result['db_valid']}\nserver cpu per scan {result['server_cpu_ms_per_scan']} ms "
        f"{result['cpu_ms_per_scan']}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
