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
and DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import free_port, stop_server, uvicorn_command, wait_until_healthy  # noqa: E402

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


def start_server(port: int, fast_path: bool = True) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "0", "LOG_LEVEL": "WARNING", "QUEUE_FAST_PATH": "1" if fast_path else "0"}
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


def wrk_load(
    port: int, method: str, path: str, tokens_file: str | None = None, firsts: tuple[int, int] = (0, 0)
) -> dict:
    """Warm-up, then the measured run, each one wrk process starting on the
    token at ``firsts``; figures of the measured run."""
    script = str(ROOT / "bench" / "queue_http.lua")
    figures: dict = {}
    for seconds, first in zip((WARMUP_SECONDS, SECONDS), firsts, strict=True):
        args = [method, path] + ([str(WRK_THREADS), tokens_file, str(first)] if tokens_file else [])
        command = ["wrk", f"-t{WRK_THREADS}", f"-c{CLIENTS}", f"-d{seconds:g}s", "-s", script]
        out = subprocess.run(
            [*command, f"http://127.0.0.1:{port}", "--", *args], capture_output=True, text=True, check=True
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
    return {
        "per_s": figures["requests"] / figures["seconds"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "statuses": {int(k): v for k, v in figures["statuses"].items()},
        "socket_errors": figures["socket_errors"],
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


def main() -> None:
    event_id, tokens = prepare()
    port = free_port()
    path = f"/api/events/{event_id}/queue/"
    generator = "wrk" if shutil.which("wrk") else "python"
    django_joins = None
    with tempfile.NamedTemporaryFile("w", suffix=".tokens") as tokens_file:
        tokens_file.write("\n".join(tokens) + "\n")
        tokens_file.flush()
        server = start_server(port)
        try:
            if generator == "wrk":
                trivial = wrk_load(port, "GET", "/healthz")
                joins = wrk_load(port, "POST", path, tokens_file.name, FAST_TOKENS)
            else:
                trivial, joins = python_load(port, event_id, tokens)
        finally:
            stop_server(server)
        if generator == "wrk":
            server = start_server(port, fast_path=False)
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
