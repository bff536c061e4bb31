#!/usr/bin/env python3
"""What idle events on sale cost Celery: a worker and beat beside N queued
events that are on sale with nobody in their queues (sold-out events stay on
sale for returns; a platform has many on sale at once).

    DATABASE_URL=... REDIS_URL=... REDIS_DB=8 python bench/rounds_idle.py [--events 40]

Makes sure the database has ``--events`` such events (``manage.py
create_event``, 1,000 seats each, made once and reused), closes every other
event, flushes the Redis db it is given, then starts ``celery -A ticketing
worker -c 2`` and ``celery -A ticketing beat`` as the product runs them,
waits ``SETTLE_SECONDS`` for their start-up, and reads each process tree's
CPU from ``/proc`` over ``MEASURE_SECONDS``. Last line: one JSON object
(``worker_core_share``, ``beat_core_share``: CPU seconds per second).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import celery_commands, tree_cpu_ms  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
os.environ.setdefault("REDIS_DB", "8")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from core.redis import get_redis  # noqa: E402
from reservations.models import Event  # noqa: E402

NAME = "Idle rounds bench"
SETTLE_SECONDS = 10
MEASURE_SECONDS = 15


def _events(count: int) -> list[int]:
    """``count`` queued events on sale named for this bench; every other event closed."""
    call_command("migrate", verbosity=0)
    mine = Event.objects.filter(name__startswith=NAME)
    for i in range(mine.count(), count):
        subprocess.run(
            [sys.executable, "manage.py", "create_event", f"--name={NAME} {i}", "--sections=A:10x100:R:1000"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    ids = list(mine.order_by("id").values_list("id", flat=True)[:count])
    Event.objects.exclude(pk__in=ids).exclude(status=Event.Status.CLOSED).update(status=Event.Status.CLOSED)
    Event.objects.filter(pk__in=ids).update(status=Event.Status.ON_SALE)
    connections.close_all()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40)
    args = parser.parse_args()
    ids = _events(args.events)
    get_redis().flushdb()
    env = {**os.environ, "DB_POOL": "0", "LOG_LEVEL": "WARNING"}
    beat_schedule = Path(tempfile.gettempdir()) / f"rounds-idle-beat-{os.getpid()}"
    commands = celery_commands(beat_schedule, "-c", "2")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen(c, cwd=ROOT, env=env, start_new_session=True, **quiet) for c in commands]
    try:
        time.sleep(SETTLE_SECONDS)
        before, started = [tree_cpu_ms([p.pid]) for p in procs], time.monotonic()
        time.sleep(MEASURE_SECONDS)
        after, seconds = [tree_cpu_ms([p.pid]) for p in procs], time.monotonic() - started
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    worker, beat = ((b - a) / 1000 / seconds for a, b in zip(before, after, strict=True))
    print(json.dumps({"events": len(ids), "worker_core_share": round(worker, 3), "beat_core_share": round(beat, 3)}))


if __name__ == "__main__":
    main()
