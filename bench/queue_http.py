"""Benchmark: the queue join endpoint under load through the real ASGI server.

Starts uvicorn (``ticketing.asgi:application``, 2 worker processes) on
127.0.0.1, then drives it from a load generator on loopback with 64
keep-alive connections: first ``GET /healthz`` (a trivial JSON view of the
project behind Django's middleware: the ceiling), then ``POST
/api/events/{id}/queue/`` with a different user's token on every request
(each a first join, 201; the join is served by ``queue_app.fastpath``).
Tokens were issued before the on-sale, so their cache entries are warm, as
after a login. Each load runs a 2 s warm-up, then 10 s measured. With wrk,
the server is then restarted with ``QUEUE_FAST_PATH=0`` and the join is
measured once more through the Django view (``django_joins_per_s``): what
the fast path is worth.

The load generator is wrk (``bench/queue_http.lua``) when it is on PATH
(``apt-get install wrk``): it costs the 2 cores far less than Python would.
Without it, an asyncio generator in this process stands in, and the figures
are then lower than the server can do. Prints one JSON object last.

Run: ``python bench/queue_http.py`` (uses REDIS_DB, default 5, which it flushes,
and DATABASE_URL). The server runs as the product does, its processes'
metrics summed through a ``PROMETHEUS_MULTIPROC_DIR`` of its own.

``python bench/queue_http.py --metrics-cost [ROUNDS]`` (wrk only) measures
what metrics cost the join instead: the server is started with
``METRICS_ENABLED=1``, then ``0``, alternating for ROUNDS (default 3) pairs
in the order on/off, off/on, ..., each on a fresh event (every join a first
join); it reports joins per second and the server's CPU per join, on and
off, their medians and the ratios, and, from ``bench/observe_cost.py``,
the CPU the request timing itself costs, as a share of the CPU of a join
(on a busy machine the end-to-end figures move more than that share).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import free_port, stop_server, uvicorn_command, wait_until_healthy  # noqa: E402
from ticketing.metrics_dir import ENV_NAME as METRICS_DIR_ENV  # noqa: E402
from ticketing.metrics_dir import metrics_dir  # noqa: E402

os.environ.setdefault("REDIS_DB", "5")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
os.environ["RATE_LIMIT_JOIN"] = "1000000/m"  # measure the join, not the limiter's refusals

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from accounts.services import tokens_issue  # noqa: E402
from accounts.tokens import token_cache_store  # noqa: E402
from core.redis import get_redis  # noqa: E402
from reservations.services import event_create  # noqa: E402

CLIENTS = 64
WARMUP_SECONDS = 2.0
SECONDS = 10.0
USERS = 120_000
# Where each load starts in the token list (warm-up, measured): disjoint
# ranges with room for 7,000 joins/s on the fast path.
FAST_TOKENS = (0, 15_000)
DJANGO_TOKENS = (85_000, 90_000)
WORKERS = 2
WRK_THREADS = 2


def prepare() -> tuple[int, list[str]]:
    call_command("migrate", verbosity=0)
    get_redis().flushdb()
    model = get_user_model()
    model.objects.filter(username__startswith="qhttp").delete()
    event = event_create(name="queue_http bench", venue_name="Bench Arena", sections="A:20x50:R:1000", batch=100)
    users = model.objects.bulk_create(
        [model(username=f"qhttp{i}", password="!") for i in range(USERS)], batch_size=5000
    )
    tokens = tokens_issue(user_ids=[u.id for u in users])
    started = time.time()
    for user in users:  # as at login: the token's cache entry is warm
        token_cache_store(tokens[user.id], user, expiry=None, read_started=started)
    return event.id, [tokens[u.id] for u in users]


def start_server(port: int, metrics_path: str, fast_path: bool = True, metrics: bool = True) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "0", "LOG_LEVEL": "WARNING", "QUEUE_FAST_PATH": "1" if fast_path else "0"}
    env |= {METRICS_DIR_ENV: metrics_path, "METRICS_ENABLED": "1" if metrics else "0"}
    server = subprocess.Popen(
        uvicorn_command("ticketing.asgi:application", port, WORKERS),
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    return wait_until_healthy(server, port)


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def load(port: int, requests: list[bytes] | None, fixed: bytes | None) -> dict:
    """CLIENTS keep-alive connections; each sends its next request as soon as
    the last answered. Latencies are kept after the warm-up only."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cursor = iter(requests or [])
    started = time.perf_counter()
    measure_from = started + WARMUP_SECONDS
    stop_at = measure_from + SECONDS

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                request = fixed if fixed is not None else next(cursor, None)
                if request is None:
                    return
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                writer.write(request)
                status = await read_response(reader)
                done = time.perf_counter()
                if sent >= measure_from:
                    latencies.append(done - sent)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    latencies.sort()
    measured = sum(statuses.values())
    return {
        "per_s": measured / SECONDS,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "statuses": statuses,
    }


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """User and system CPU of the server and its worker processes so far."""
    processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def wrk_load(
    port: int,
    method: str,
    path: str,
    tokens_file: str | None = None,
    firsts: tuple[int, int] = (0, 0),
    server: subprocess.Popen | None = None,
) -> dict:
    """Warm-up, then the measured run, each one wrk process starting on the
    token at ``firsts``; figures of the measured run (with ``server``, its
    CPU per request too)."""
    script = str(ROOT / "bench" / "queue_http.lua")
    figures: dict = {}
    cpu = 0.0
    for seconds, first in zip((WARMUP_SECONDS, SECONDS), firsts, strict=True):
        args = [method, path] + ([str(WRK_THREADS), tokens_file, str(first)] if tokens_file else [])
        command = ["wrk", f"-t{WRK_THREADS}", f"-c{CLIENTS}", f"-d{seconds:g}s", "-s", script]
        cpu_before = server_cpu_seconds(server) if server is not None else 0.0
        out = subprocess.run(
            [*command, f"http://127.0.0.1:{port}", "--", *args], capture_output=True, text=True, check=True
        ).stdout
        cpu = server_cpu_seconds(server) - cpu_before if server is not None else 0.0
        figures = json.loads(out.strip().splitlines()[-1])
    return {
        "per_s": figures["requests"] / figures["seconds"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "statuses": {int(k): v for k, v in figures["statuses"].items()},
        "socket_errors": figures["socket_errors"],
        "server_cpu_us_per_request": cpu / figures["requests"] * 1e6 if server is not None else None,
    }


def python_load(port: int, event_id: int, tokens: list[str]) -> tuple[dict, dict]:
    trivial = asyncio.run(load(port, None, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"))
    joins_requests = [
        (
            f"POST /api/events/{event_id}/queue/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Token {key}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        for key in tokens
    ]
    return trivial, asyncio.run(load(port, joins_requests, None))


def metrics_cost(rounds: int) -> dict:
    """Joins per second and server CPU per join with metrics on and off,
    alternating (on/off, off/on, ...), each run on a fresh event."""
    _, tokens = prepare()
    port = free_port()
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    with tempfile.NamedTemporaryFile("w", suffix=".tokens") as tokens_file, metrics_dir() as metrics_path:
        tokens_file.write("\n".join(tokens) + "\n")
        tokens_file.flush()
        for round_ in range(rounds):
            for mode in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                event = event_create(name=f"metrics cost {round_} {mode}", venue_name="Bench", sections="A:1x10:R:1")
                server = start_server(port, metrics_path, metrics=mode == "on")
                try:
                    path = f"/api/events/{event.id}/queue/"
                    runs[mode].append(wrk_load(port, "POST", path, tokens_file.name, FAST_TOKENS, server=server))
                finally:
                    stop_server(server)
                figures = runs[mode][-1]
                print(
                    f"metrics {mode:3s}: {figures['per_s']:7.0f} joins/s, "
                    f"{figures['server_cpu_us_per_request']:6.0f} µs server CPU per join, p99 {figures['p99_ms']} ms",
                    flush=True,
                )
    median = {mode: statistics.median(r["per_s"] for r in runs[mode]) for mode in runs}
    cpu = {mode: statistics.median(r["server_cpu_us_per_request"] for r in runs[mode]) for mode in runs}
    get_redis().flushdb()
    observer = json.loads(
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "observe_cost.py")], capture_output=True, text=True, check=True
        ).stdout.splitlines()[-1]
    )["observe_cost"]
    return {
        "metrics_cost": {
            "observer_metrics_us_per_request": observer["metrics_us"],
            "observer_request_id_us_per_request": observer["request_id_us"],
            "metrics_share_of_join_cpu": round(observer["metrics_us"] / cpu["off"], 4),
            "rounds": rounds,
            "clients": CLIENTS,
            "workers": WORKERS,
            "seconds": SECONDS,
            "joins_per_s_on": [round(r["per_s"]) for r in runs["on"]],
            "joins_per_s_off": [round(r["per_s"]) for r in runs["off"]],
            "median_joins_per_s_on": round(median["on"]),
            "median_joins_per_s_off": round(median["off"]),
            "throughput_ratio_on_off": round(median["on"] / median["off"], 3),
            "server_cpu_us_per_join_on": round(cpu["on"], 1),
            "server_cpu_us_per_join_off": round(cpu["off"], 1),
            "cpu_ratio_on_off": round(cpu["on"] / cpu["off"], 3),
            "statuses_on": [r["statuses"] for r in runs["on"]],
            "statuses_off": [r["statuses"] for r in runs["off"]],
        }
    }


def main() -> None:
    if "--metrics-cost" in sys.argv[1:]:
        if not shutil.which("wrk"):
            raise SystemExit("--metrics-cost needs wrk (apt-get install wrk): Python load would share the CPU")
        rest = sys.argv[sys.argv.index("--metrics-cost") + 1 :]
        print(json.dumps(metrics_cost(int(rest[0]) if rest else 3)))
        return
    event_id, tokens = prepare()
    port = free_port()
    path = f"/api/events/{event_id}/queue/"
    generator = "wrk" if shutil.which("wrk") else "python"
    django_joins = None
    with tempfile.NamedTemporaryFile("w", suffix=".tokens") as tokens_file, metrics_dir() as metrics_path:
        tokens_file.write("\n".join(tokens) + "\n")
        tokens_file.flush()
        server = start_server(port, metrics_path)
        try:
            if generator == "wrk":
                trivial = wrk_load(port, "GET", "/healthz")
                joins = wrk_load(port, "POST", path, tokens_file.name, FAST_TOKENS)
            else:
                trivial, joins = python_load(port, event_id, tokens)
        finally:
            stop_server(server)
        if generator == "wrk":
            server = start_server(port, metrics_path, fast_path=False)
            try:
                django_joins = wrk_load(port, "POST", path, tokens_file.name, DJANGO_TOKENS)
            finally:
                stop_server(server)
    waiting = get_redis().zcard(f"q:{{{event_id}}}:waiting")
    figures = {
        "load_generator": generator,
        "clients": CLIENTS,
        "workers": WORKERS,
        "seconds": SECONDS,
        "joins_per_s": round(joins["per_s"]),
        "p50_ms": round(joins["p50_ms"], 1),
        "p99_ms": round(joins["p99_ms"], 1),
        "join_statuses": joins["statuses"],
        "trivial_per_s": round(trivial["per_s"]),
        "trivial_p99_ms": round(trivial["p99_ms"], 1),
        "ratio": round(joins["per_s"] / trivial["per_s"], 3),
        "django_joins_per_s": django_joins and round(django_joins["per_s"]),
        "django_p99_ms": django_joins and round(django_joins["p99_ms"], 1),
        "django_join_statuses": django_joins and django_joins["statuses"],
        "waiting_after": waiting,
    }
    get_redis().flushdb()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
