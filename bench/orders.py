#!/usr/bin/env python3
"""Orders per second and CPU per order on the real stack: 1,000 buyers each
hold one seat of their own and pay for it, 32 requests in flight.

    python bench/orders.py               # a new TCP connection per request
    python bench/orders.py --keepalive   # one keep-alive connection per client

Setup (not measured): a fresh database ``bench_orders`` on the PostgreSQL
server (``--postgres``, default ``postgresql://postgres@127.0.0.1:5432``),
migrated; a private ``redis-server`` for everything (cache, queue, channel
layer, broker); the buyers and their API tokens written in bulk; one event
of 1,000 seats with no waiting queue and a limit of one ticket per person
(``A:40x25:R:10000``). Then uvicorn (``ticketing.asgi:application``, 2
workers), one ``celery -A ticketing worker`` (both task queues, ``booking``
and ``mail``, its default prefork concurrency) and ``celery -A ticketing
beat`` start as subprocesses. E-mail goes to Django's dummy backend
(``EMAIL_URL=dummymail://``): a confirmation costs its task and its outbox
rows, not an SMTP conversation.

Each buyer does ``POST /api/events/{id}/holds/`` (``{"seat_ids": [its
seat]}``) then ``POST /api/holds/{hold}/checkout/`` (``tok_ok``, a fresh
``Idempotency-Key``) with ``Authorization: Token ...``; 32 asyncio clients
share the buyers, each sending its next request when the last one answered,
over a new connection per request (``Connection: close``) or, with
``--keepalive``, over one connection per client. Tokens are used cold, as
after a login: a buyer's first request looks its token up in PostgreSQL. A
warm-up of as many buyers as clients, on a second event, runs the same path
first, and its confirmations are sent before the measurement starts.
``--buyers``, ``--in-flight`` and ``--workers`` (uvicorn's) change the
workload; everything started is stopped and the database dropped at the end.

Measured: the wall time from the first request to the last answer (orders
per second), the latency of every hold and checkout (connection included),
and CPU from /proc between a snapshot just before the first request and one
taken once every confirmation is sent (Celery's work is inside the window).
CPU is ``utime + stime`` of each live process of a group plus ``cutime +
cstime`` (children that exited and were reaped), end minus start, so a
process that exits during the window still counts:

* ``web``: the uvicorn master and its workers;
* ``celery``: the worker, its pool processes, and beat;
* ``postgres``: the postmaster's tree, which holds every backend, those that
  exited during the window included (in the postmaster's ``cutime``), and
  the background processes (WAL writer, checkpointer, autovacuum). The
  cluster is shared with other users of the machine: live backends of other
  databases (and this script's monitoring connection) are taken out, but a
  backend of another database that exits during the window can only be
  counted with the rest (``postgres_foreign_exited`` says how many there
  were; ``postgres_other_db_sessions`` and ``postgres_other_db_xacts``
  count the other databases' connections and transactions in the window),
  and the background processes work for every database;
* ``redis``: the private redis-server;
* ``loadgen``: this process itself.

CPU per order (ms divided by orders sold) is the figure that holds still on
a noisy machine; orders per second and latencies move with the load around.
To judge the noise, ``loadavg`` (at the start and the end) and
``machine_cpu_ms`` (the whole machine in the window, from /proc/stat: busy,
idle, stolen by the hypervisor, and ``other_processes``: busy time outside
the groups above) are reported, and ``machine_reference`` (after the stack
stops: a fixed Python task's and a fixed PostgreSQL query's times,
``bench.support.machine_reference``), the day's speed of this machine, which
has moved 2-3 times between sessions. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import (  # noqa: E402
    CLOCK_TICK_MS,
    Proc,
    celery_commands,
    free_port,
    machine_reference,
    proc_table,
    proc_tree,
    response_read,
    start_private_redis,
    stop_server,
    uvicorn_command,
    wait_until_healthy,
)

PYTHON = sys.executable
DATABASE = "bench_orders"
SEATS_PER_ROW = 25
PRICE = 10000
MONITOR_APP = "bench-orders-monitor"  # this script's own PostgreSQL connection, kept out of the figures
CONFIRMATION_TIMEOUT_S = 30.0
WARMUP_TIMEOUT_S = 60.0
GROUPS = ("web", "celery", "postgres", "redis", "loadgen")
SERVER_GROUPS = ("web", "celery", "postgres", "redis")


# --- HTTP client -----------------------------------------------------------------


class Client:
    """One HTTP/1.1 client over raw asyncio streams: a new connection per
    request, or one kept alive (``keepalive``)."""

    def __init__(self, port: int, keepalive: bool) -> None:
        self.port, self.keepalive = port, keepalive
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        """Close the connection (the event loop finishes it; nobody waits for that)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, token: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, float]:
        """POST ``body`` as JSON; returns the status, the decoded answer and the milliseconds it took."""
        payload = json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{extra}"
            f"Connection: {'keep-alive' if self.keepalive else 'close'}\r\n\r\n"
        )
        started = time.perf_counter()
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            self.writer.write(head.encode() + payload)
            response = await response_read(self.reader)
        except BaseException:
            self.close()
            raise
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.closes or not self.keepalive:
            self.close()
        return response.status, (json.loads(response.body) if response.body else None), elapsed_ms


@dataclass
class Tally:
    """What the clients saw: latencies in ms and statuses, per step."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"hold": [], "checkout": []})
    statuses: dict[str, Counter] = field(default_factory=lambda: {"hold": Counter(), "checkout": Counter()})


async def _buy(client: Client, event_id: int, token: str, seat_id: int, tally: Tally) -> None:
    """One buyer: hold its seat, then pay for it."""
    try:
        status, body, ms = await client.post(f"/api/events/{event_id}/holds/", token, {"seat_ids": [seat_id]}, {})
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.statuses["hold"][f"error:{type(exc).__name__}"] += 1
        return
    tally.latencies["hold"].append(ms)
    tally.statuses["hold"][str(status)] += 1
    if status != 201:
        return
    try:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        status, _, ms = await client.post(f"/api/holds/{body['id']}/checkout/", token, {"payment_token": "tok_ok"}, key)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.statuses["checkout"][f"error:{type(exc).__name__}"] += 1
        return
    tally.latencies["checkout"].append(ms)
    tally.statuses["checkout"][str(status)] += 1


async def _buy_all(port: int, event_id: int, buyers: list[tuple[str, int]], in_flight: int, keepalive: bool) -> Tally:
    """``in_flight`` clients work through ``buyers`` (token, seat), one buyer at a time each."""
    tally = Tally()
    pending: Iterator[tuple[str, int]] = iter(buyers)

    async def client_run() -> None:
        client = Client(port, keepalive)
        try:
            for token, seat_id in pending:
                await _buy(client, event_id, token, seat_id, tally)
        finally:
            client.close()

    await asyncio.gather(*(client_run() for _ in range(in_flight)))
    return tally


# --- CPU from /proc ---------------------------------------------------------------


@dataclass
class Snapshot:
    table: dict[int, Proc]
    activity: dict[int, tuple[str | None, str]]  # PostgreSQL pid -> (database, application_name)
    databases: dict[str, tuple[int, int]]  # database -> (sessions, transactions) so far
    machine: dict[str, int]  # the whole machine's CPU ticks (/proc/stat): busy, idle, steal


def _machine_ticks() -> dict[str, int]:
    """All CPUs' ticks so far: busy (user, nice, system, irq, softirq), idle (with iowait), steal."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return {"busy": user + nice + system + irq + softirq, "idle": idle + iowait, "steal": steal}


class CpuMeter:
    """CPU per process group between two snapshots (see the module docstring)."""

    def __init__(self, groups: dict[str, list[int]], postmaster: int | None, monitor: psycopg.Connection) -> None:
        self.groups, self.postmaster, self.monitor = groups, postmaster, monitor

    def snapshot(self) -> Snapshot:
        rows = self.monitor.execute("SELECT pid, datname, application_name FROM pg_stat_activity").fetchall()
        databases = self.monitor.execute(
            "SELECT datname, sessions, xact_commit + xact_rollback FROM pg_stat_database WHERE datname IS NOT NULL"
        ).fetchall()
        return Snapshot(
            proc_table(),
            {pid: (db, app) for pid, db, app in rows},
            {db: (n, x) for db, n, x in databases},
            _machine_ticks(),
        )

    def _foreign(self, snap: Snapshot, pid: int) -> bool:
        """A backend of another database, or this script's monitoring connection."""
        database, app = snap.activity.get(pid, (None, ""))
        return app == MONITOR_APP or (database is not None and database != DATABASE)

    def delta_ms(self, start: Snapshot, end: Snapshot) -> tuple[dict[str, float | None], dict[str, Any]]:
        """Milliseconds of CPU per group, and notes on what PostgreSQL's figure left out."""

        def total(snap: Snapshot, roots: list[int]) -> int:
            return sum(snap.table[p].own + snap.table[p].reaped for p in proc_tree(snap.table, roots))

        out: dict[str, float | None] = {
            name: (total(end, roots) - total(start, roots)) * CLOCK_TICK_MS for name, roots in self.groups.items()
        }
        me = os.getpid()
        out["loadgen"] = (end.table[me].own - start.table[me].own) * CLOCK_TICK_MS
        notes = self._database_notes(start, end)
        notes["machine_cpu_ms"] = {k: round((end.machine[k] - v) * CLOCK_TICK_MS) for k, v in start.machine.items()}
        if self.postmaster is None:
            out["postgres"] = None
            return out, {**notes, "postgres_cpu": "the postmaster is not visible in /proc"}
        ticks = total(end, [self.postmaster]) - total(start, [self.postmaster])
        excluded = 0
        end_backends = proc_tree(end.table, [self.postmaster]) - {self.postmaster}
        for pid in end_backends:
            if self._foreign(end, pid):
                proc, before = end.table[pid], start.table.get(pid)
                same = before is not None and before.started == proc.started
                excluded += proc.own + proc.reaped - (before.own + before.reaped if same else 0)
        start_backends = proc_tree(start.table, [self.postmaster]) - {self.postmaster}
        foreign_exited = sum(
            1
            for pid in start_backends
            if self._foreign(start, pid)
            and (pid not in end.table or end.table[pid].started != start.table[pid].started)
        )
        out["postgres"] = (ticks - excluded) * CLOCK_TICK_MS
        notes["postgres_excluded_ms"] = round(excluded * CLOCK_TICK_MS, 1)
        notes["postgres_foreign_exited"] = foreign_exited
        return out, notes

    @staticmethod
    def _database_notes(start: Snapshot, end: Snapshot) -> dict[str, Any]:
        """Connections and transactions in the window (PostgreSQL's statistics, which lag by about a
        second), for the bench's database and for all others: the others' work is in the cluster's CPU."""

        def delta(names: set[str], column: int) -> int:
            return sum(end.databases[n][column] - start.databases.get(n, (0, 0))[column] for n in names)

        others = set(end.databases) - {DATABASE}
        return {
            "postgres_sessions": delta({DATABASE}, 0),
            "postgres_other_db_sessions": delta(others, 0),
            "postgres_other_db_xacts": delta(others, 1),
        }


def _postmaster(monitor: psycopg.Connection) -> int | None:
    """The postmaster: the parent of this connection's backend, if this machine runs it."""
    backend = monitor.execute("SELECT pg_backend_pid()").fetchone()[0]
    try:
        if Path(f"/proc/{backend}/comm").read_text().strip() != "postgres":
            return None  # a server in another pid namespace: this pid is someone else
        return proc_table()[backend].ppid
    except (OSError, KeyError):
        return None


# --- the stack ----------------------------------------------------------------------


def _database_create(server_url: str) -> str:
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    return f"{server_url}/{DATABASE}"


def _database_drop(server_url: str) -> None:
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _stack_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of every process of the stack (and of this one's setup)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DB_POOL", "CELERY_BROKER_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="ticketing.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        RATE_LIMIT_HOLD="100000/m",
        RATE_LIMIT_JOIN="100000/m",
        LOG_LEVEL="WARNING",
        EMAIL_URL="dummymail://",
    )
    return env


def _stack_start(env: dict[str, str], port: int, workers: int, logs: Path) -> dict[str, subprocess.Popen]:
    worker, beat = celery_commands(logs / "beat-schedule")
    commands = {"web": uvicorn_command("ticketing.asgi:application", port, workers), "worker": worker, "beat": beat}
    procs = {}
    for name, command in commands.items():
        with open(logs / f"{name}.log", "w") as log:
            procs[name] = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
    wait_until_healthy(procs["web"], port)
    return procs


def _setup(buyers: int, warmup_buyers: int) -> dict[str, Any]:
    """Migrate; the buyers with their tokens; the event and the warm-up event."""
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
    total = buyers + warmup_buyers
    user_model.objects.bulk_create(
        [user_model(username=f"buyer-{i}", email=f"buyer-{i}@example.com", password=password) for i in range(total)],
        batch_size=2000,
    )
    ids = list(user_model.objects.filter(username__startswith="buyer-").order_by("id").values_list("id", flat=True))
    tokens = tokens_issue(user_ids=ids)

    def event(name: str, seats: int) -> tuple[int, list[int]]:
        rows = math.ceil(seats / SEATS_PER_ROW)
        created = event_create(
            name=name,
            venue_name="Bench Arena",
            sections=f"A:{rows}x{SEATS_PER_ROW}:R:{PRICE}",
            queue_enabled=False,
            max_per_user=1,
        )
        return created.id, list(Seat.objects.filter(event=created).order_by("id").values_list("id", flat=True))

    event_id, seats = event("Orders bench", buyers)
    warm_id, warm_seats = event("Orders bench warm-up", warmup_buyers)
    connections.close_all()
    return {
        "event": event_id,
        "buyers": [(tokens[u], s) for u, s in zip(ids[:buyers], seats, strict=False)],
        "warm_event": warm_id,
        "warm_buyers": [(tokens[u], s) for u, s in zip(ids[buyers:], warm_seats, strict=False)],
    }


def _confirmations_wait(monitor: psycopg.Connection, event_id: int, orders: int, timeout: float) -> dict[str, int]:
    """Wait until none of the event's confirmations is pending (or ``timeout``); their counts by status."""
    from reservations.models import Confirmation, Order

    sql = (
        f"SELECT c.status, count(*) FROM {Confirmation._meta.db_table} c "
        f"JOIN {Order._meta.db_table} o ON o.id = c.order_id WHERE o.event_id = %s GROUP BY c.status"
    )
    deadline = time.monotonic() + timeout
    while True:
        counts = dict(monitor.execute(sql, [event_id]).fetchall())
        done = sum(counts.values()) >= orders and not counts.get("pending")
        if done or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def _sales_check(event_id: int) -> dict[str, int]:
    """Orders paid, tickets, and seats sold more than once (no refunds here: any second ticket is one)."""
    from django.db import connections
    from django.db.models import Count

    from reservations.models import Order, Seat, Ticket

    tickets = Ticket.objects.filter(event_id=event_id)
    result = {
        "orders": Order.objects.filter(event_id=event_id, status=Order.Status.PAID).count(),
        "tickets_valid": tickets.filter(status=Ticket.Status.VALID).count(),
        "seats_sold": Seat.objects.filter(event_id=event_id, status=Seat.Status.SOLD).count(),
        "double_sold": tickets.values("seat_id").annotate(n=Count("id")).filter(n__gt=1).count(),
    }
    connections.close_all()
    return result


# --- the run ----------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)


def _measure(args: argparse.Namespace, plan: dict[str, Any], port: int, meter: CpuMeter) -> dict[str, Any]:
    monitor = meter.monitor
    warm = asyncio.run(_buy_all(port, plan["warm_event"], plan["warm_buyers"], args.in_flight, args.keepalive))
    warm_sold = warm.statuses["checkout"]["201"]
    warm_confirmations = _confirmations_wait(monitor, plan["warm_event"], warm_sold, WARMUP_TIMEOUT_S)
    print(f"warm-up: holds {dict(warm.statuses['hold'])}, checkouts {dict(warm.statuses['checkout'])}, "
          f"confirmations {warm_confirmations}", flush=True)  # fmt: skip
    if warm_sold == 0 or warm_confirmations.get("sent", 0) < warm_sold:
        raise RuntimeError("the warm-up did not sell and confirm its seats: see the logs")

    loadavg = os.getloadavg()[0]
    print(f"measuring: {len(plan['buyers'])} buyers, {args.in_flight} in flight, {_mode(args)}", flush=True)
    start = meter.snapshot()
    started = time.perf_counter()
    tally = asyncio.run(_buy_all(port, plan["event"], plan["buyers"], args.in_flight, args.keepalive))
    seconds = time.perf_counter() - started
    answered = tally.statuses["checkout"]["201"] + tally.statuses["checkout"]["200"]
    confirmations = _confirmations_wait(monitor, plan["event"], answered, CONFIRMATION_TIMEOUT_S)
    end = meter.snapshot()
    window = time.perf_counter() - started
    cpu_ms, notes = meter.delta_ms(start, end)
    machine = notes["machine_cpu_ms"]
    machine["other_processes"] = round(machine["busy"] - sum(v for v in cpu_ms.values() if v is not None))

    sales = _sales_check(plan["event"])
    orders = sales["orders"]
    per_order = {g: (round(cpu_ms[g] / orders, 3) if orders and cpu_ms[g] is not None else None) for g in GROUPS}
    server = [per_order[g] for g in SERVER_GROUPS]
    return {
        "mode": _mode(args),
        "buyers": len(plan["buyers"]),
        "in_flight": args.in_flight,
        "web_workers": args.workers,
        "orders": orders,
        "seconds": round(seconds, 3),
        "orders_per_s": round(orders / seconds, 1),
        "hold_p50_ms": _percentile(tally.latencies["hold"], 0.5),
        "hold_p99_ms": _percentile(tally.latencies["hold"], 0.99),
        "hold_max_ms": _percentile(tally.latencies["hold"], 1.0),
        "checkout_p50_ms": _percentile(tally.latencies["checkout"], 0.5),
        "checkout_p99_ms": _percentile(tally.latencies["checkout"], 0.99),
        "checkout_max_ms": _percentile(tally.latencies["checkout"], 1.0),
        "statuses": {step: dict(counts) for step, counts in tally.statuses.items()},
        "double_sold": sales["double_sold"],
        "tickets_valid": sales["tickets_valid"],
        "seats_sold": sales["seats_sold"],
        "confirmations_sent": confirmations.get("sent", 0),
        "confirmations": confirmations,
        "server_cpu_ms_per_order": round(sum(server), 3) if None not in server else None,
        "cpu_ms_per_order": per_order,
        "cpu_ms": {g: (round(v, 1) if v is not None else None) for g, v in cpu_ms.items()},
        "cpu_window_s": round(window, 3),
        **notes,
        "loadavg": [round(loadavg, 2), round(os.getloadavg()[0], 2)],
    }


def _mode(args: argparse.Namespace) -> str:
    return "keepalive" if args.keepalive else "new-connection"


def _report(result: dict[str, Any]) -> None:
    print(
        f"{result['orders']} orders in {result['seconds']} s: {result['orders_per_s']} orders/s ({result['mode']})\n"
        f"hold      p50 {result['hold_p50_ms']} ms  p99 {result['hold_p99_ms']} ms\n"
        f"checkout  p50 {result['checkout_p50_ms']} ms  p99 {result['checkout_p99_ms']} ms\n"
        f"statuses {result['statuses']}; double sold {result['double_sold']}; "
        f"confirmations sent {result['confirmations_sent']}"
    )
    for group in GROUPS:
        print(f"cpu {group:9s} {result['cpu_ms'][group]} ms  = {result['cpu_ms_per_order'][group]} ms/order")
    print(f"server cpu per order: {result['server_cpu_ms_per_order']} ms (window {result['cpu_window_s']} s)")
    machine = result["machine_cpu_ms"]
    print(
        f"machine: {machine['busy']} ms busy, of which {machine['other_processes']} ms outside these groups; "
        f"{machine['idle']} ms idle, {machine['steal']} ms stolen"
    )
    print(
        f"postgres: {result['postgres_sessions']} new connections to {DATABASE}; other databases: "
        f"{result['postgres_other_db_sessions']} connections, {result['postgres_other_db_xacts']} transactions"
    )


def stack_stop(
    procs: dict[str, subprocess.Popen],
    redis: subprocess.Popen,
    monitor: psycopg.Connection | None,
    logs: Path,
    *,
    ok: bool,
    postgres: str | None,
) -> None:
    """Stop what a benchmark started: its monitoring connection, the stack,
    the private Redis; the logs' tails when it failed; the database (dropped
    on ``postgres`` when one was created)."""
    if monitor is not None:
        monitor.close()
    for proc in procs.values():
        stop_server(proc)
    stop_server(redis)
    if not ok:
        _log_tails(logs)
    if postgres is not None:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        _database_drop(postgres)


def _log_tails(logs: Path) -> None:
    for log in sorted(logs.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-20:]
        if lines:
            print(f"--- {log} (last lines)", *lines, sep="\n", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keepalive", action="store_true", help="one keep-alive connection per client")
    parser.add_argument("--buyers", type=int, default=1000, help="buyers, one seat each (the event has as many)")
    parser.add_argument("--in-flight", type=int, default=32, help="requests in flight (clients)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="the PostgreSQL server")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a SIGTERM stops what was started too

    logs = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    procs: dict[str, subprocess.Popen] = {}
    redis = start_private_redis()
    monitor: psycopg.Connection | None = None
    database_created = False
    ok = False
    try:
        database_url = _database_create(args.postgres)
        database_created = True
        env = _stack_env(database_url, os.environ["REDIS_URL"])
        os.environ.update(env)
        os.environ["DB_POOL"] = "0"  # this process's setup: one plain connection
        import django

        django.setup()
        plan = _setup(args.buyers, args.in_flight)
        print(f"setup: database {DATABASE}, {args.buyers} buyers, event {plan['event']}", flush=True)
        port = free_port()
        procs = _stack_start(env, port, args.workers, logs)
        print(f"stack: uvicorn :{port} ({args.workers} workers), celery worker, beat; logs in {logs}", flush=True)
        monitor = psycopg.connect(database_url, autocommit=True, application_name=MONITOR_APP)
        groups = {
            "web": [procs["web"].pid],
            "celery": [procs["worker"].pid, procs["beat"].pid],
            "redis": [redis.pid],
        }
        meter = CpuMeter(groups, _postmaster(monitor), monitor)
        result = _measure(args, plan, port, meter)
        ok = True
    finally:
        stack_stop(procs, redis, monitor, logs, ok=ok, postgres=args.postgres if database_created else None)
        if ok:
            shutil.rmtree(logs, ignore_errors=True)
    result["machine_reference"] = machine_reference(f"{args.postgres}/postgres")  # the stack stopped: a quiet machine
    _report(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
