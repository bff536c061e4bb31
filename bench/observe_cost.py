#!/usr/bin/env python3
"""Benchmark: what ``core.http_observe`` costs a request, in CPU, by itself.

The observer (request id and, with metrics on, the request's duration in the
histogram: one ``observe`` into prometheus_client's multiprocess files)
wraps an ASGI app that answers at once, as a fast path answers a join; the
same requests go through the bare app, the observer with timing off
(``METRICS_ENABLED=0``: the request id only) and with timing on, in
alternating blocks in one process. ``PROMETHEUS_MULTIPROC_DIR`` is a
temporary directory, as the product runs. Prints one JSON line: CPU µs per
request of each, and the differences.

Run: ``python bench/observe_cost.py`` (needs only the settings; touches no
database). ``bench/queue_http.py --metrics-cost`` runs it too and sets its
figures beside the server CPU a join costs.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_metrics_dir = tempfile.TemporaryDirectory(prefix="observe-cost-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir.name  # before prometheus_client is imported
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
os.environ.setdefault("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused")  # no query is made
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")

import django  # noqa: E402

django.setup()

from core.http_observe import HttpObserver  # noqa: E402
from core.metrics import ROUTE  # noqa: E402

REQUESTS_PER_BLOCK = 20_000
BLOCKS = 10
HEADERS = [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Token " + b"k" * 64), (b"content-length", b"0")]
ANSWER = [(b"content-type", b"application/json"), (b"content-length", b"2"), (b"allow", b"GET, POST, DELETE")]


async def answer(scope: dict, receive: object, send: object) -> None:
    """A join as the fast path answers it: the route named, a 201 sent."""
    scope[ROUTE] = "/api/events/<int:event_id>/queue/"
    await send({"type": "http.response.start", "status": 201, "headers": ANSWER})
    await send({"type": "http.response.body", "body": b"{}"})


async def receive() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: dict) -> None:
    pass


async def block(app: object) -> float:
    """CPU seconds for one block of requests through ``app``."""
    started = time.process_time()
    for _ in range(REQUESTS_PER_BLOCK):
        scope = {"type": "http", "method": "POST", "path": "/api/events/7/queue/", "headers": HEADERS}
        await app(scope, receive, send)
    return time.process_time() - started


async def measure() -> dict[str, float]:
    apps = {"bare": answer, "untimed": HttpObserver(answer, timed=False), "timed": HttpObserver(answer, timed=True)}
    seconds: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(2):  # warm-up: the histogram's child and files are made
        for app in apps.values():
            await block(app)
    for index in range(BLOCKS):
        order = list(apps) if index % 2 == 0 else list(reversed(apps))
        for name in order:
            seconds[name].append(await block(apps[name]))
    return {name: statistics.median(values) / REQUESTS_PER_BLOCK * 1e6 for name, values in seconds.items()}


def main() -> None:
    us = asyncio.run(measure())
    print(
        json.dumps(
            {
                "observe_cost": {
                    "requests": REQUESTS_PER_BLOCK * BLOCKS,
                    "bare_us": round(us["bare"], 2),
                    "request_id_us": round(us["untimed"] - us["bare"], 2),
                    "metrics_us": round(us["timed"] - us["untimed"], 2),
                    "observer_total_us": round(us["timed"] - us["bare"], 2),
                }
            }
        )
    )
    _metrics_dir.cleanup()


if __name__ == "__main__":
    main()
