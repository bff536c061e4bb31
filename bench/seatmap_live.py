#!/usr/bin/env python3
"""A 50,000-seat map watched live: 400 viewers refreshing the seat status
while holds and sales run at 50 a second.

    python bench/seatmap_live.py [--viewers 400] [--rate 50] [--seconds 20]

The stack and the CPU meter are ``bench/orders.py``'s: a fresh database
``bench_orders`` (dropped at the end), a private ``redis-server``, uvicorn (2
workers), a Celery worker and beat; CPU read from ``/proc`` per process
group. The event has 50,000 seats (five sections of 100 x 100), no queue.

1. **Full map, for comparison**: ``GET /api/events/{id}/seats/`` five times,
   one after another: server CPU and bytes per read.
2. **Writes alone** (``--warm`` seconds, 10): one writer starts a buyer every
   1/``--rate`` s: ``POST holds/`` of its own seat, then ``POST checkout/``
   (``tok_ok``). Server CPU per second of this phase is the writes' cost.
3. **Writes and viewers** (``--seconds``, 20): the same writes, and
   ``--viewers`` shoppers each with a keep-alive connection: one
   ``GET seats/layout/`` and one ``GET seats/status/`` (``Accept-Encoding:
   gzip``), then every second ``GET seats/status/?since=<their version>``,
   applying what comes back. With ``--push`` each viewer listens on
   ``/ws/events/{id}/seats/`` instead and applies the changes each frame
   carries, as the seat page does; it asks ``?since=`` only when a frame
   does not start from its version (at most once every ``--every`` s).

Figures (last line, one JSON object):

* ``server_cpu_ms_per_refresh``: server CPU (web + Celery + PostgreSQL +
  Redis) per second in phase 3 minus that in phase 2, times phase 3's
  length, over the refreshes in phase 3: what the viewers cost, measured
  in the same run as the writes they watch.
* ``bytes_per_refresh_median`` (and p99): a refresh's whole response on the
  wire, status line and headers included.
* ``change_delay_p99_ms``: for each hold sent in phase 3 (but its last 2 s)
  and each viewer, from the moment the hold request was sent to the moment
  that viewer's refresh shows the seat taken (a hold not seen by the end
  counts with the time it waited).
* ``full_map_cpu_ms_per_read`` and ``full_map_bytes``: phase 1, the read this
  replaces.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.orders import (  # noqa: E402
    DATABASE,
    MONITOR_APP,
    SERVER_GROUPS,
    CpuMeter,
    _database_create,
    _postmaster,
    _stack_env,
    _stack_start,
    stack_stop,
)
from bench.support import free_port, response_read, start_private_redis  # noqa: E402

SECTIONS = ",".join(f"{name}:100x100:{grade}:{price}" for name, grade, price in (
    ("A", "R", 150000), ("B", "R", 150000), ("C", "S", 100000), ("D", "S", 100000), ("E", "A", 60000),
))  # fmt: skip
SEATS = 50_000
SETTLE_SECONDS = 2.0  # holds sent this close to the end are not judged


class Http:
    """One keep-alive HTTP/1.1 connection (stdlib asyncio), counting bytes received."""

    def __init__(self, port: int, token: str | None) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes, int]:
        """(status, headers, body as sent, bytes on the wire); a keep-alive
        connection the server closed meanwhile is opened again once."""
        try:
            return await self._request(method, path, body, headers)
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            return await self._request(method, path, body, headers)

    async def _request(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None
    ) -> tuple[int, dict[str, str], bytes, int]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(data)}"]
        if self.token:
            lines.append(f"Authorization: Token {self.token}")
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        await self.writer.drain()
        assert self.reader is not None
        response = await response_read(self.reader)
        if response.closes:
            await self.close()
        return response.status, response.headers, response.body, response.wire_bytes


def _json(headers: dict[str, str], raw: bytes) -> Any:
    if headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    return json.loads(raw)


class Viewer:
    def __init__(self, port: int, token: str, event_id: int) -> None:
        self.http = Http(port, token)
        self.event_id = event_id
        self.version: int | None = None
        self.statuses: dict[int, str] = {}
        self.seen_taken: dict[int, float] = {}
        self.refresh_bytes: list[int] = []
        self.pushed = 0
        self.errors = 0

    async def start(self) -> None:
        status, headers, raw, _ = await self.http.request(
            "GET", f"/api/events/{self.event_id}/seats/layout/", headers={"Accept-Encoding": "gzip"}
        )
        assert status == 200, status
        self.ids = [seat["id"] for seat in _json(headers, raw)["seats"]]

    async def refresh(self) -> None:
        query = "" if self.version is None else f"?since={self.version}"
        status, headers, raw, wire = await self.http.request(
            "GET", f"/api/events/{self.event_id}/seats/status/{query}", headers={"Accept-Encoding": "gzip"}
        )
        now = time.monotonic()
        self.refresh_bytes.append(wire)
        if status == 304:
            return
        if status != 200:
            self.errors += 1
            return
        body = _json(headers, raw)
        self.version = body["version"]
        if "statuses" in body:
            for seat_id, char in zip(self.ids, body["statuses"], strict=True):
                self._note(seat_id, "a" if char == "a" else "t", now)
        else:
            for seat_id, word in body["changes"]:
                self._note(seat_id, "a" if word == "available" else "t", now)

    def _note(self, seat_id: int, state: str, now: float) -> None:
        if state == "t" and seat_id not in self.seen_taken:
            self.seen_taken[seat_id] = now

    async def listen(self, until: float, every: float) -> None:
        """As the seat page does: apply the changes a frame carries when they
        start from the version shown, else refresh (at most once every
        ``every`` seconds). An applied frame counts as a refresh, its bytes
        those of the frame (payload and a 4-byte header)."""
        uri = f"ws://127.0.0.1:{self.http.port}/ws/events/{self.event_id}/seats/"
        headers = {"Authorization": f"Token {self.http.token}"}
        last = 0.0
        async with websockets.connect(uri, additional_headers=headers, open_timeout=30) as ws:
            while time.monotonic() < until:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, until - time.monotonic()))
                except TimeoutError:
                    return
                frame = json.loads(raw)
                if frame.get("type") != "seats" or frame["version"] == self.version:
                    continue
                if "changes" in frame and frame["since"] == self.version:
                    now = time.monotonic()
                    self.version = frame["version"]
                    self.refresh_bytes.append(len(raw.encode() if isinstance(raw, str) else raw) + 4)
                    self.pushed += 1
                    for seat_id, word in frame["changes"]:
                        self._note(seat_id, "a" if word == "available" else "t", now)
                    continue
                await asyncio.sleep(max(0.0, last + every - time.monotonic()))
                last = time.monotonic()
                await self.refresh()

    async def watch(self, until: float, every: float) -> None:
        await asyncio.sleep(random.uniform(0, every))
        while time.monotonic() < until:
            started = time.monotonic()
            await self.refresh()
            await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))


async def _buy(port: int, event_id: int, token: str, seat: int, sent: dict[int, float]) -> bool:
    http = Http(port, token)
    try:
        sent[seat] = time.monotonic()
        status, _, raw, _ = await http.request("POST", f"/api/events/{event_id}/holds/", {"seat_ids": [seat]})
        if status != 201:
            return False
        hold = json.loads(raw)["id"]
        status, *_ = await http.request(
            "POST", f"/api/holds/{hold}/checkout/", {"payment_token": "tok_ok"}, {"Idempotency-Key": uuid.uuid4().hex}
        )
        return status == 201
    finally:
        await http.close()


async def _writes(port: int, event_id: int, buyers: list[tuple[str, int]], rate: float, seconds: float) -> dict:
    """Start a buyer every 1/rate s for ``seconds``; when each hold was sent, and the sales."""
    sent: dict[int, float] = {}
    tasks = []
    started = time.monotonic()
    for i, (token, seat) in enumerate(buyers):
        due = started + i / rate
        if due - started >= seconds:
            break
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tasks.append(asyncio.create_task(_buy(port, event_id, token, seat, sent)))
    results = await asyncio.gather(*tasks)
    return {"sent": sent, "sold": sum(results), "buyers": len(tasks)}


def _setup(viewers: int, buyers: int) -> dict[str, Any]:
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
    names = [f"viewer-{i}" for i in range(viewers)] + [f"buyer-{i}" for i in range(buyers)]
    user_model.objects.bulk_create(
        [user_model(username=n, email=f"{n}@example.com", password=password) for n in names], batch_size=2000
    )  # with an address: a confirmation without one fails and is retried, work no real sale does
    ids = dict(user_model.objects.filter(username__in=names).values_list("username", "id"))
    tokens = tokens_issue(user_ids=list(ids.values()))
    event = event_create(
        name="Stadium", venue_name="Bench Stadium", sections=SECTIONS, queue_enabled=False, max_per_user=1
    )
    seats = list(Seat.objects.filter(event=event).order_by("?").values_list("id", flat=True)[:buyers])
    connections.close_all()
    return {
        "event": event.id,
        "viewers": [tokens[ids[f"viewer-{i}"]] for i in range(viewers)],
        "buyers": [(tokens[ids[f"buyer-{i}"]], seat) for i, seat in enumerate(seats)],
    }


def _server_ms(meter: CpuMeter, start: Any, end: Any) -> tuple[float, dict[str, Any]]:
    cpu, _ = meter.delta_ms(start, end)
    return sum(cpu[g] or 0.0 for g in SERVER_GROUPS), {g: round(cpu[g] or 0.0) for g in (*SERVER_GROUPS, "loadgen")}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q) - 1))]


async def _measure(args: argparse.Namespace, plan: dict[str, Any], port: int, meter: CpuMeter) -> dict[str, Any]:
    event_id = plan["event"]
    first = Http(port, plan["viewers"][0])
    for path in ("seats/layout/", "seats/status/", "seats/"):  # warm every read once
        await first.request("GET", f"/api/events/{event_id}/{path}", headers={"Accept-Encoding": "gzip"})

    reads = 5
    start = meter.snapshot()
    full_bytes = []
    for _ in range(reads):
        status, _, _, wire = await first.request("GET", f"/api/events/{event_id}/seats/")
        assert status == 200, status
        full_bytes.append(wire)
    full_ms, _ = _server_ms(meter, start, meter.snapshot())
    await first.close()

    buyers = plan["buyers"]
    warm_count = int(args.rate * args.warm)
    start = meter.snapshot()
    t0 = time.monotonic()
    warm = await _writes(port, event_id, buyers[:warm_count], args.rate, args.warm)
    warm_s = time.monotonic() - t0
    writes_ms, writes_groups = _server_ms(meter, start, meter.snapshot())

    viewers = [Viewer(port, token, event_id) for token in plan["viewers"]]
    await asyncio.gather(*(v.start() for v in viewers))
    await asyncio.gather(*(v.refresh() for v in viewers))  # each viewer's full form, before the clock starts
    for viewer in viewers:
        viewer.refresh_bytes.clear()
    start = meter.snapshot()
    t0 = time.monotonic()
    until = t0 + args.seconds
    watching = [
        asyncio.create_task(v.listen(until, args.every) if args.push else v.watch(until, args.every)) for v in viewers
    ]
    live = await _writes(port, event_id, buyers[warm_count:], args.rate, args.seconds)
    await asyncio.gather(*watching)
    live_s = time.monotonic() - t0
    live_ms, live_groups = _server_ms(meter, start, meter.snapshot())
    for viewer in viewers:
        await viewer.http.close()

    refreshes = sum(len(v.refresh_bytes) for v in viewers)
    viewers_ms = live_ms - writes_ms / warm_s * live_s
    judged = {seat: at for seat, at in live["sent"].items() if at < until - SETTLE_SECONDS}
    delays = [(viewer.seen_taken.get(seat, until) - at) * 1000 for viewer in viewers for seat, at in judged.items()]
    unseen = sum(1 for viewer in viewers for seat in judged if seat not in viewer.seen_taken)
    sizes = [b for v in viewers for b in v.refresh_bytes]
    return {
        "mode": "push" if args.push else "poll",
        "seats": SEATS,
        "viewers": len(viewers),
        "refreshes": refreshes,
        "refreshes_per_s": round(refreshes / live_s, 1),
        "refreshes_pushed": sum(v.pushed for v in viewers),
        "writes_per_s": round(live["buyers"] / live_s, 1),
        "sold": warm["sold"] + live["sold"],
        "server_cpu_ms_per_refresh": round(viewers_ms / refreshes, 3) if refreshes else None,
        "bytes_per_refresh_median": statistics.median(sizes) if sizes else None,
        "bytes_per_refresh_p99": _percentile(sizes, 0.99),
        "change_delay_p50_ms": round(statistics.median(delays), 1) if delays else None,
        "change_delay_p99_ms": round(_percentile(delays, 0.99), 1) if delays else None,
        "changes_judged": len(judged),
        "changes_unseen": unseen,
        "refresh_errors": sum(v.errors for v in viewers),
        "full_map_cpu_ms_per_read": round(full_ms / reads, 1),
        "full_map_bytes": statistics.median(full_bytes),
        "server_cpu_ms": {"writes_alone": round(writes_ms), "writes_and_viewers": round(live_ms)},
        "phase_seconds": {"writes_alone": round(warm_s, 2), "writes_and_viewers": round(live_s, 2)},
        "cpu_ms_by_group": {"writes_alone": writes_groups, "writes_and_viewers": live_groups},
        "loadavg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=400)
    parser.add_argument("--rate", type=float, default=50.0, help="holds (each then sold) per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the watched phase")
    parser.add_argument("--warm", type=float, default=10.0, help="length of the writes-alone phase")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between a viewer's refreshes (at least)")
    parser.add_argument(
        "--push", action="store_true", help="viewers take the changes their socket pushes (a GET only when they cannot)"
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="the PostgreSQL server")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    logs = Path(tempfile.mkdtemp(prefix="bench-seatmap-"))
    procs: dict[str, subprocess.Popen] = {}
    redis = start_private_redis()
    monitor: psycopg.Connection | None = None
    created = ok = False
    try:
        database_url = _database_create(args.postgres)
        created = True
        env = _stack_env(database_url, os.environ["REDIS_URL"])
        os.environ.update(env)
        os.environ["DB_POOL"] = "0"
        import django

        django.setup()
        buyers = int(args.rate * (args.warm + args.seconds)) + 10
        plan = _setup(args.viewers, buyers)
        print(f"setup: database {DATABASE}, {SEATS} seats, {args.viewers} viewers, {buyers} buyers", flush=True)
        port = free_port()
        procs = _stack_start(env, port, 2, logs)
        monitor = psycopg.connect(database_url, autocommit=True, application_name=MONITOR_APP)
        groups = {"web": [procs["web"].pid], "celery": [procs["worker"].pid, procs["beat"].pid], "redis": [redis.pid]}
        meter = CpuMeter(groups, _postmaster(monitor), monitor)
        result = asyncio.run(_measure(args, plan, port, meter))
        ok = True
    finally:
        stack_stop(procs, redis, monitor, logs, ok=ok, postgres=args.postgres if created else None)
    for key in ("server_cpu_ms_per_refresh", "bytes_per_refresh_median", "change_delay_p99_ms"):
        print(f"{key}: {result[key]}")
    full = result["full_map_cpu_ms_per_read"], result["full_map_bytes"]
    print(f"full map: {full[0]} ms of server CPU and {full[1]} bytes a read")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
