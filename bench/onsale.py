#!/usr/bin/env python3
"""A whole on-sale through the public HTTP/WebSocket API, the real ASGI server,
a Celery worker and Celery beat: 2,000 shoppers for 1,000 seats.

    DATABASE_URL=... REDIS_URL=... REDIS_DB=7 python bench/onsale.py [--compare-controller] [--surge]

``--surge``: a stadium's opening second. The 2,000 join the event's
pre-queue over 20 s; at the opening the draw puts them all in the queue at
once, and the organizer's batch (1,000 a second) and cap (2,000) are far
more than this machine serves at once: the case admission's controller is
for.

The Redis db it is given is flushed first: give it one of its own.

Setup (not timed): migrate, ``manage.py create_event`` (queue on, limit 2 per
person), and 2,000 accounts with API tokens written straight to the database
(registering through the API would spend minutes hashing passwords). Then
uvicorn (``ticketing.asgi:application``), ``celery -A ticketing worker`` and
``celery -A ticketing beat`` start as subprocesses, and every shopper, as
one asyncio task, only speaks the public contract (API.md):

join the queue (``POST /api/events/{id}/queue/``) -> wait for ``admitted``
on ``/ws/events/{id}/queue/`` -> half read the seat page's reads (the layout
once, then the status snapshot; ``ONSALE_FULL_MAP=1``: the full seat map)
and pick seats (never again one a 409 named as taken, as the seat page
paints it), half ask for the best available -> hold -> checkout (``tok_ok``,
an ``Idempotency-Key``). A shopper who finds nothing leaves the queue, so
the place goes to the next person.

At the end the invariants are checked through the API as well: every
shopper's ``GET /api/tickets/``: every seat sold exactly once, nobody over
the limit; and admission in join order (a shopper whose join finished
before another's began is never admitted later than it, beyond the
admission interval plus delivery slack). Last line: one JSON object; its
``load_generator`` is this process's own CPU and how late its event loop
ran (every latency above is measured on that loop: a late loop would add
its lateness to all of them).

The processes share one metrics directory (``PROMETHEUS_MULTIPROC_DIR``),
and ``/metrics`` is scraped every 2 s during the sale: the JSON's
``metrics`` says which of the contract's series were seen and their
figures; ``ONSALE_METRICS_OUT=file`` keeps the scrape taken at the deepest
queue and the last one; ``ONSALE_REQUESTS_OUT=file`` every shopper's
requests (step, start, duration, status) of the last sale; ``ONSALE_PORT``
fixes the web port (for a Prometheus of one's own to scrape).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import celery_commands, response_read, tree_cpu_ms, uvicorn_command  # noqa: E402
from ticketing.metrics_dir import ENV_NAME as METRICS_DIR_ENV  # noqa: E402
from ticketing.metrics_dir import metrics_dir  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.services import tokens_issue  # noqa: E402
from core.redis import get_redis  # noqa: E402
from reservations.models import Event  # noqa: E402

SHOPPERS = int(os.environ.get("ONSALE_SHOPPERS", 2000))  # the env overrides are for quick trials only
ROWS, SEATS_PER_ROW = int(os.environ.get("ONSALE_ROWS", 10)), 100  # 1,000 seats
MAX_PER_USER = 2
SURGE = "--surge" in sys.argv[1:]
BATCH, INTERVAL = (1000 if SURGE else 150), 1
CAP = int(os.environ.get("ONSALE_CAP", 2000 if SURGE else 400))
HOLD_SECONDS, ADMISSION_SECONDS = 90, 180
DEADLINE_SECONDS = 600
ORDER_SLACK_SECONDS = 0.001  # one round stamps one admitted_until; an earlier joiner is never in a later round
PYTHON = sys.executable
IDLE_RECONNECT_SECONDS = 2.0
CHECKOUT_RETRY_SECONDS = 60  # past a capture whose sale failed, the key answers 409 for the payment window
FULL_MAP = os.environ.get("ONSALE_FULL_MAP") == "1"
ARRIVAL_SECONDS = 20 if SURGE else 30  # arrivals spread (a 2-core box cannot take 2,000 joins in one instant)
#: ``--surge``: the sale opens this long after the setup, past the servers' start and every arrival.
SURGE_OPENS_AFTER_SETUP = 45
SCRAPE_SECONDS = 2.0
#: The stack has started when no process tree spends more than this much CPU in half a second.
SETTLED_CPU_MS = 100
SETTLE_TIMEOUT_SECONDS = 30
CONTRACT_SERIES = (
    "ticketing_queue_waiting",
    "ticketing_queue_admitted",
    "ticketing_admitted_total",
    "ticketing_holds_total",
    "ticketing_checkouts_total",
    "ticketing_confirmations_total",
    "ticketing_payments_reconciled_total",
    "ticketing_websocket_connections",
    "ticketing_http_request_duration_seconds_bucket",
)


class Http:
    """A tiny keep-alive HTTP/1.1 client for one shopper (stdlib asyncio only)."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        for attempt in range(2):
            try:
                return await self._request(method, path, body, headers or {})
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                await self.close()
                if attempt or method not in {"GET", "DELETE"}:
                    raise
        raise AssertionError("unreachable")

    async def _request(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, dict]:
        if self.writer is not None and time.monotonic() - self.last_used > IDLE_RECONNECT_SECONDS:
            await self.close()  # the server drops idle keep-alive connections (uvicorn: after 5 s)
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode() if body is not None else b""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            f"Authorization: Token {self.token}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        await self.writer.drain()
        assert self.reader is not None
        response = await response_read(self.reader)
        self.last_used = time.monotonic()
        if response.closes:
            await self.close()
        return response.status, (json.loads(response.body) if response.body else None), response.headers


class Shopper:
    def __init__(self, index: int, user_id: int, token: str, port: int, event_id: int) -> None:
        self.index, self.user_id, self.token, self.port, self.event_id = index, user_id, token, port, event_id
        self.http = Http(port, token)
        self.steps: dict[str, float] = {}  # a step's total time (a hold: up to four attempts)
        self.log: list[tuple[str, float, float, int]] = []  # each request: (step, started, took, status)
        self.join_started = self.join_done = self.admitted_at = self.bought_at = None
        self.admitted_until: float | None = None  # the server's clock: same for everyone of one round
        self.entry: str | None = None  # the pre-queue entry (--surge): its place is the public draw's
        self.outcome = "unknown"
        # Each draw has its own seeded stream: the same Random(index) for the
        # arrival time and this made every shopper arriving after 15 s want 2
        # seats (both read its first bits), so with one seat left the tail of
        # the queue could never buy it and the sale stalled for minutes.
        self.want = random.Random(f"want:{index}").choice([1, 2])
        self.picks_from_map = index % 2 == 0
        self.layout: list[int] | None = None
        # Seats a 409 named as taken: the seat page paints them so and its
        # shopper does not pick them again (web/static/web/js/seats.js).
        self.taken: set[int] = set()

    async def timed(self, step: str, method: str, path: str, body: Any = None, headers: Any = None) -> tuple:
        started = time.monotonic()
        result = await self.http.request(method, path, body, headers)
        took = time.monotonic() - started
        self.log.append((step, started, took, result[0]))
        self.steps[step] = self.steps.get(step, 0.0) + took
        return result

    async def run(self) -> None:
        try:
            await self._run()
        except Exception as exc:
            self.outcome = f"error:{type(exc).__name__}"
        finally:
            await self.http.close()

    async def _run(self) -> None:
        queue = f"/api/events/{self.event_id}/queue/"
        self.join_started = time.monotonic()
        for _ in range(10):  # 503 (a server past what it can take) is retried after Retry-After, as clients should
            status, body, headers = await self.timed("join", "POST", queue)
            if status != 503:
                break
            await asyncio.sleep(float(headers.get("retry-after", "2")))
        self.join_done = time.monotonic()
        if status == 409:
            self.outcome = body["error"]
            return
        if status not in (200, 201):
            self.outcome = f"error:join:{status}"
            return
        state = body["state"]
        self.entry = body.get("entry")
        self._note_admission(body)
        if state in ("waiting", "pre_queue"):
            state = await self._wait_admitted()
        if state != "admitted":
            self.outcome = state
            return
        self.admitted_at = time.monotonic()
        self.steps["wait"] = self.admitted_at - self.join_done
        hold = await self._hold()
        if hold is None:
            await self.http.request("DELETE", queue)
            return
        key = str(uuid.uuid4())
        give_up = time.monotonic() + CHECKOUT_RETRY_SECONDS
        while True:  # busy (409) or unavailable (503) is retried with the same key after Retry-After, as clients should
            status, body, headers = await self.timed(
                "checkout",
                "POST",
                f"/api/holds/{hold}/checkout/",
                {"payment_token": "tok_ok"},
                {"Idempotency-Key": key},
            )
            error = (body or {}).get("error")
            if error not in {"checkout_in_progress", "unavailable"} or time.monotonic() > give_up:
                break
            await asyncio.sleep(float(headers.get("retry-after", "1")))
        if status in (200, 201):
            self.outcome, self.bought_at = "bought", time.monotonic()
        else:
            self.outcome = f"checkout:{status}:{(body or {}).get('error')}"
            await self.http.request("DELETE", queue)

    async def _wait_admitted(self) -> str:
        """Wait on the WebSocket for ``admitted`` (or the end of the sale)."""
        uri = f"ws://127.0.0.1:{self.port}/ws/events/{self.event_id}/queue/"
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            try:
                async with websockets.connect(
                    uri, additional_headers={"Authorization": f"Token {self.token}"}, open_timeout=30
                ) as ws:
                    while time.monotonic() < deadline:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                        if frame["type"] in {"admitted", "sold_out", "closed", "expired"}:
                            self._note_admission(frame)
                            return frame["type"]
            except (TimeoutError, OSError, websockets.ConnectionClosed):
                status, body, _ = await self.http.request("GET", f"/api/events/{self.event_id}/queue/")
                if status == 200 and body["state"] != "waiting":
                    self._note_admission(body)
                    return body["state"]
        return "timeout"

    def _note_admission(self, message: dict) -> None:
        if message.get("admitted_until"):
            self.admitted_until = datetime.fromisoformat(message["admitted_until"]).timestamp()

    async def _free_seats(self) -> list[int]:
        """Free seat ids as the seat page reads them: the layout once (open,
        cacheable), then the shared status snapshot; with ``ONSALE_FULL_MAP=1``
        the full seat map instead (the read the stadium page replaced)."""
        if FULL_MAP:
            status, body, _ = await self.timed("seats", "GET", f"/api/events/{self.event_id}/seats/")
            return [s["id"] for s in body["seats"] if s["status"] == "available"] if status == 200 else []
        if self.layout is None:
            status, body, _ = await self.timed("seats", "GET", f"/api/events/{self.event_id}/seats/layout/")
            if status != 200:
                return []
            self.layout = [seat["id"] for seat in body["seats"]]
        status, body, _ = await self.timed("seats", "GET", f"/api/events/{self.event_id}/seats/status/")
        if status != 200:
            return []
        statuses = zip(self.layout, body["statuses"], strict=True)
        return [seat for seat, char in statuses if char == "a" and seat not in self.taken]

    async def _hold(self) -> int | None:
        holds = f"/api/events/{self.event_id}/holds/"
        for _ in range(4):
            if self.picks_from_map:
                free = await self._free_seats()
                if len(free) < self.want:
                    self.outcome = "no_seats"
                    return None
                request = {"seat_ids": random.sample(free[: max(self.want, 40)], self.want)}
            else:
                request = {"quantity": self.want, "grade": "R"}
            status, body, headers = await self.timed("hold", "POST", holds, request)
            if status == 201:
                return body["id"]
            error = (body or {}).get("error")
            if error == "seat_unavailable":
                self.taken.update(body.get("seat_ids", ()))
            if error in {"not_enough_seats", "limit_exceeded", "not_admitted"}:
                self.outcome = error
                return None
            await asyncio.sleep(float(headers.get("retry-after", "0.2")) if error in {"busy", "unavailable"} else 0.05)
        self.outcome = "hold_gave_up"
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup(tag: str) -> tuple[int, list[tuple[int, str]]]:
    call_command("migrate", verbosity=0)
    # Earlier runs' events stay on sale in this database: each would have its
    # admission rounds beside this sale's (once in ADMISSION_IDLE_ROUND_SECONDS each;
    # before that was built, every second: most of Celery's time after a
    # few dozen runs, the "slowing machine" of sessions 9 and 10).
    Event.objects.exclude(status=Event.Status.CLOSED).update(status=Event.Status.CLOSED)
    out = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "create_event",
            f"--name=On-sale bench {tag}",
            f"--sections=A:{ROWS}x{SEATS_PER_ROW}:R:100000",
            f"--batch={BATCH}",
            f"--interval={INTERVAL}",
            f"--cap={CAP}",
            f"--max-per-user={MAX_PER_USER}",
            f"--hold-seconds={HOLD_SECONDS}",
            f"--admission-seconds={ADMISSION_SECONDS}",
            *(["--opens-in=3600", "--prequeue-minutes=61"] if SURGE else []),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    event_id = json.loads(out.stdout.strip().splitlines()[-1])["id"]
    user_model = get_user_model()
    password = make_password(uuid.uuid4().hex)
    user_model.objects.bulk_create(
        [
            user_model(username=f"onsale-{tag}-{i}", email=f"onsale-{tag}-{i}@example.com", password=password)
            for i in range(SHOPPERS)
        ],
        batch_size=1000,
    )
    ids = list(
        user_model.objects.filter(username__startswith=f"onsale-{tag}-").order_by("id").values_list("id", flat=True)
    )
    tokens = tokens_issue(user_ids=ids)
    if SURGE:  # the pre-queue is open now; the sale opens once everyone has arrived
        opens = timezone.now() + timedelta(seconds=SURGE_OPENS_AFTER_SETUP)
        Event.objects.filter(pk=event_id).update(sale_opens_at=opens, prequeue_opens_at=timezone.now())
    connections.close_all()
    return event_id, [(i, tokens[i]) for i in ids]


def _start(port: int, metrics_path: str, controller: bool | None = None) -> list[subprocess.Popen]:
    # PostgreSQL's max_connections is shared: a small pool per web process, plain connections in Celery.
    env = {**os.environ, "DB_POOL_MAX": "25", "DB_POOL_TIMEOUT": "60", "PAYMENT_TIMEOUT_SECONDS": "5"}
    env[METRICS_DIR_ENV] = metrics_path
    if controller is not None:
        env["ADMISSION_CONTROLLER"] = "1" if controller else "0"
    celery_env = {**env, "DB_POOL": "0"}
    logs = Path(os.environ.get("ONSALE_LOG_DIR", tempfile.gettempdir()))
    worker, beat = celery_commands(logs / f"onsale-beat-{port}", "-c", "2")
    commands = {
        "web": uvicorn_command("ticketing.asgi:application", port, 2, "--backlog", "4096"),
        "worker": worker,
        "beat": beat,
    }
    procs = []
    for name, command in commands.items():
        log = open(logs / f"onsale-{name}-{port}.log", "w")
        procs.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env if name == "web" else celery_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return procs
        time.sleep(0.3)
    raise RuntimeError("the ASGI server did not start")


def _settled_cpu_ms(procs: list[subprocess.Popen]) -> list[float]:
    """Each process tree's CPU once all of them have finished starting (the
    port opens before uvicorn's workers and Celery's children have imported
    Django): the sale starts on a warm stack, and its CPU figures hold none
    of the start-up."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    before = [tree_cpu_ms([p.pid]) for p in procs]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = [tree_cpu_ms([p.pid]) for p in procs]
        if all(b - a < SETTLED_CPU_MS for a, b in zip(before, now, strict=True)):
            return now
        before = now
    return before


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _figures(values: list[float]) -> dict[str, Any]:
    return {"p50_ms": round(statistics.median(values) * 1000, 1), "p99_ms": _p99(values), "count": len(values)}


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[max(0, int(len(values) * 0.99) - 1)] * 1000, 1)


async def _verify(shoppers: list[Shopper], port: int, event_id: int) -> dict[str, Any]:
    """Invariants through the API: every shopper's tickets, the event's stock, admission order."""
    semaphore = asyncio.Semaphore(100)

    async def tickets(shopper: Shopper) -> list[dict]:
        async with semaphore:
            http = Http(port, shopper.token)
            try:
                status, body, _ = await http.request("GET", "/api/tickets/")
            finally:
                await http.close()
            assert status == 200
            return [t for t in body if t["event"] == event_id and t.get("status", "valid") == "valid"]

    per_shopper = await asyncio.gather(*(tickets(s) for s in shoppers))
    seat_counts = Counter(t["seat"]["id"] for ts in per_shopper for t in ts)
    over_limit = sum(1 for ts in per_shopper if len(ts) > MAX_PER_USER)
    probe = Http(port, shoppers[0].token)
    _, event, _ = await probe.request("GET", f"/api/events/{event_id}/")
    await probe.close()
    # Judged on the server's admission times (admitted_until is set once per
    # round), not on when a client happened to hear of its admission.
    admitted = [s for s in shoppers if s.admitted_until is not None]
    seats = ROWS * SEATS_PER_ROW
    summary = {
        "sold": sum(seat_counts.values()),
        "seats_sold_twice": sum(1 for n in seat_counts.values() if n > 1),
        "over_limit": over_limit,
        "event_status": event["status"],
        "seats_available": event["seats_available"],
        "every_seat_sold_once": len(seat_counts) == seats and all(n == 1 for n in seat_counts.values()),
    }
    if SURGE:
        return {**summary, "out_of_join_order": await _out_of_draw_order(admitted, port, event_id)}
    out_of_order = 0
    latest_admission = float("-inf")
    by_start = sorted(admitted, key=lambda s: s.join_started)
    # Sweep: for each shopper B, every A whose join finished before B's began must be admitted no later than B.
    finished = sorted(admitted, key=lambda s: s.join_done)
    i = 0
    for shopper in by_start:
        while i < len(finished) and finished[i].join_done < shopper.join_started:
            latest_admission = max(latest_admission, finished[i].admitted_until)
            i += 1
        if latest_admission - shopper.admitted_until > ORDER_SLACK_SECONDS:
            out_of_order += 1
    return {**summary, "out_of_join_order": out_of_order}


async def _out_of_draw_order(admitted: list[Shopper], port: int, event_id: int) -> int:
    """Pre-queue entrants admitted after someone the public draw put behind them."""
    probe = Http(port, admitted[0].token)
    status, drawn, _ = await probe.request("GET", f"/api/events/{event_id}/draw/entries/")
    await probe.close()
    assert status == 200, status
    place = {entry: n for n, entry in enumerate(drawn)}
    latest, out_of_order = float("-inf"), 0
    for shopper in sorted((s for s in admitted if s.entry in place), key=lambda s: place[s.entry]):
        if latest - shopper.admitted_until > ORDER_SLACK_SECONDS:
            out_of_order += 1
        latest = max(latest, shopper.admitted_until)
    return out_of_order


class Scrapes:
    """``/metrics`` read every ``SCRAPE_SECONDS`` while the sale runs: the
    scrape at the deepest queue and the last one are kept."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.deepest: tuple[float, str] = (-1.0, "")
        self.last = ""
        self.seen: set[str] = set()
        self.peak: dict[str, float] = {}

    async def read(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: close\r\n\r\n".encode())
            text = (await response_read(reader)).body.decode()
        finally:
            writer.close()
        samples = _samples(text)
        self.seen |= {name for name in CONTRACT_SERIES if any(key[0] == name for key in samples)}
        for name in ("ticketing_queue_waiting", "ticketing_queue_admitted", "ticketing_websocket_connections"):
            here = sum(v for (n, _), v in samples.items() if n == name)
            self.peak[name] = max(self.peak.get(name, 0.0), here)
        waiting = sum(v for (n, _), v in samples.items() if n == "ticketing_queue_waiting")
        if waiting > self.deepest[0]:
            self.deepest = (waiting, text)
        self.last = text

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, ConnectionError, asyncio.IncompleteReadError):
                await self.read()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SCRAPE_SECONDS)

    def figures(self) -> dict[str, Any]:
        """What the JSON line says of the metrics: the series seen, the
        peaks of the gauges, the final counters by label."""
        final = _samples(self.last)

        def by(name: str, label: str) -> dict[str, float]:
            return {dict(labels)[label]: v for (n, labels), v in final.items() if n == name}

        requests = {
            dict(labels)["route"]: v
            for (n, labels), v in final.items()
            if n == "ticketing_http_request_duration_seconds_count" and dict(labels)["status"] in {"200", "201"}
        }
        return {
            "contract_series_seen": sorted(self.seen),
            "contract_series_missing": sorted(set(CONTRACT_SERIES) - self.seen),
            "peak": self.peak,
            "admitted_total": sum(by("ticketing_admitted_total", "event").values()),
            "holds_total": by("ticketing_holds_total", "result"),
            "checkouts_total": by("ticketing_checkouts_total", "result"),
            "confirmations_total": by("ticketing_confirmations_total", "result"),
            "payments_reconciled_total": by("ticketing_payments_reconciled_total", "outcome"),
            "answered_by_route": {route: int(n) for route, n in sorted(requests.items(), key=lambda kv: -kv[1])[:8]},
        }

    def keep(self, path: str) -> None:
        def excerpt(text: str) -> str:
            return "\n".join(
                line for line in text.splitlines() if line.startswith("ticketing_") and "_bucket{" not in line
            )

        Path(path).write_text(
            f"# at the deepest queue ({self.deepest[0]:.0f} waiting)\n{excerpt(self.deepest[1])}\n"
            f"# after the sale\n{excerpt(self.last)}\n"
        )


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class LoadGenerator:
    """The load generator's own cost: its CPU and how late its event loop
    runs what is ready. Every latency the bench reports is measured on this
    loop, so a late loop adds its lateness to each of them."""

    PERIOD_SECONDS = 0.01

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self.cpu_started = time.process_time()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            asked = loop.time() + self.PERIOD_SECONDS
            await asyncio.sleep(self.PERIOD_SECONDS)
            self.lateness.append(max(0.0, loop.time() - asked))

    def figures(self, seconds: float) -> dict[str, Any]:
        cpu = time.process_time() - self.cpu_started
        return {
            "cpu_s": round(cpu, 2),
            "cpu_share": round(cpu / seconds, 2) if seconds else None,
            "loop_lag_ms": {**_figures(self.lateness), "max_ms": round(max(self.lateness, default=0) * 1000, 1)},
        }


async def _onsale(
    port: int, event_id: int, accounts: list[tuple[int, str]], scrapes: Scrapes
) -> tuple[list[Shopper], float, dict[str, Any]]:
    shoppers = [Shopper(i, user_id, token, port, event_id) for i, (user_id, token) in enumerate(accounts)]
    started = time.monotonic()
    stop = asyncio.Event()
    scraping = asyncio.create_task(scrapes.run(stop))
    loadgen = LoadGenerator()
    probing = asyncio.create_task(loadgen.run(stop))

    async def arrive(shopper: Shopper) -> None:
        await asyncio.sleep(random.Random(f"arrival:{shopper.index}").uniform(0, ARRIVAL_SECONDS))
        await shopper.run()

    try:
        await asyncio.wait_for(asyncio.gather(*(arrive(s) for s in shoppers)), timeout=DEADLINE_SECONDS + 120)
        own = loadgen.figures(time.monotonic() - started)
        await asyncio.sleep(SCRAPE_SECONDS)  # the confirmations of the last sales
    finally:
        stop.set()
        await scraping
        await probing
    await scrapes.read()
    return shoppers, started, own


def main() -> None:
    """One on-sale; with ``--compare-controller`` two in a row on fresh events,
    admission's controller off then on (set ``ONSALE_CAP`` past what the
    machine can serve at once to see it work), and both results last."""
    # The bench owns its Redis db: queue keys left by an earlier run on a
    # recreated database (the same event and user ids) would admit at once.
    get_redis().flushdb()
    if "--compare-controller" in sys.argv[1:]:
        results = {}
        for controller in (False, True):
            results[f"controller_{'on' if controller else 'off'}"] = _run(controller)
        off, on = results["controller_off"], results["controller_on"]
        for step in ("hold", "checkout"):
            print(
                f"{step}: p99 {off['steps'][step]['p99_ms']} ms with the controller off, "
                f"{on['steps'][step]['p99_ms']} ms with it on"
            )
        print(json.dumps({"onsale_compare": results}))
        return
    print(json.dumps({"onsale": _run(None)}))


def _requests_keep(shoppers: list[Shopper], started: float, path: str) -> None:
    """Every shopper's requests, as seconds from the sale's start: which
    request of whom made a p99, and what else ran at that moment."""
    Path(path).write_text(
        json.dumps(
            [
                {
                    "shopper": s.index,
                    "picks_from_map": s.picks_from_map,
                    "want": s.want,
                    "admitted_at": s.admitted_at - started if s.admitted_at is not None else None,
                    "outcome": s.outcome,
                    "requests": [[step, at - started, took, status] for step, at, took, status in s.log],
                }
                for s in shoppers
            ]
        )
    )


def _run(controller: bool | None) -> dict[str, Any]:
    """One on-sale on a fresh event; ``controller`` None keeps the settings' choice."""
    tag = f"{int(time.time())}-{uuid.uuid4().hex[:6]}"
    event_id, accounts = _setup(tag)
    port = int(os.environ.get("ONSALE_PORT") or _free_port())
    scrapes = Scrapes(port)
    with metrics_dir() as metrics_path:
        procs = _start(port, metrics_path, controller)
        try:
            cpu_before = _settled_cpu_ms(procs)
            shoppers, started, loadgen = asyncio.run(_onsale(port, event_id, accounts, scrapes))
            cpu_ms = [tree_cpu_ms([p.pid]) - before for p, before in zip(procs, cpu_before, strict=True)]
            checks = asyncio.run(_verify(shoppers, port, event_id))
        finally:
            _stop(procs)
    if os.environ.get("ONSALE_REQUESTS_OUT"):
        _requests_keep(shoppers, started, os.environ["ONSALE_REQUESTS_OUT"])
    if os.environ.get("ONSALE_METRICS_OUT"):
        scrapes.keep(os.environ["ONSALE_METRICS_OUT"])
    bought = [s for s in shoppers if s.bought_at is not None]
    sell_out = max(s.bought_at for s in bought) - started if bought else None
    outcomes = Counter(s.outcome for s in shoppers)
    errors = sum(n for k, n in outcomes.items() if k.startswith("error"))
    steps = {
        step: _figures(v)
        for step in ("join", "wait", "seats", "hold", "checkout")
        if (v := [s.steps[step] for s in shoppers if step in s.steps])
    }
    # Each request on its own: a shopper's hold step sums up to four of them.
    requests = {
        step: _figures(v)
        for step in ("hold", "checkout")
        if (v := [took for s in shoppers for kind, _, took, _ in s.log if kind == step])
    }
    metrics = scrapes.figures()
    answered = sum(n for route, n in metrics["answered_by_route"].items() if route != "/metrics")
    seats = ROWS * SEATS_PER_ROW
    invariants_ok = (
        checks["every_seat_sold_once"]
        and checks["sold"] == seats
        and checks["seats_sold_twice"] == 0
        and checks["over_limit"] == 0
        and checks["out_of_join_order"] == 0
    )
    result = {
        "shoppers": SHOPPERS,
        "seats": seats,
        "sold": checks["sold"],
        "seconds_to_sell_out": round(sell_out, 2) if sell_out is not None else None,
        "checkouts_per_s": round(len(bought) / sell_out, 1) if sell_out else 0,
        "invariants_ok": invariants_ok,
        "steps": steps,
        "requests": requests,
        # CPU of the sale itself (not the checks after it): steadier than any
        # latency on a shared machine when two versions are compared.
        "web_cpu_ms_per_request": round(cpu_ms[0] / answered, 3) if answered else None,
        "cpu_s": {"web": round(cpu_ms[0] / 1000, 2), "celery": round((cpu_ms[1] + cpu_ms[2]) / 1000, 2)},
        "load_generator": loadgen,
        "outcomes": dict(outcomes),
        "errors": errors,
        "checks": checks,
        "settings": {
            "batch": BATCH,
            "interval": INTERVAL,
            "cap": CAP,
            "arrival_seconds": ARRIVAL_SECONDS,
            "max_per_user": MAX_PER_USER,
            "admission_controller": controller,
        },
        "database": settings.DATABASES["default"]["NAME"],
        "metrics": metrics,
    }
    labelled = [(step, f) for step, f in steps.items()] + [(f"{step} req", f) for step, f in requests.items()]
    for label, figures in labelled:
        print(f"{label:12s} p50 {figures['p50_ms']:9.1f} ms  p99 {figures['p99_ms']:9.1f} ms  ({figures['count']})")
    print(f"outcomes: {dict(outcomes)}")
    print(f"checks: {checks}")
    print(f"load generator: {loadgen}")
    return result


if __name__ == "__main__":
    main()
