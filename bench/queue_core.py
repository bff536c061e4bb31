"""Benchmark: the queue's Redis core at one million waiting people.

Joins 1,000,000 users to one event through the project's own join script
(``queue_app.store.store_join_pipe``, pipelined), measures position look-ups
(``store_state``, one round trip each) at that size, 1,000-person admission
batches (``store_admit``) and Redis memory per waiting person. In the same
run, the ceiling: a bare redis-py pipeline of the simplest Lua join
(INCR + ZADD NX). Prints one JSON object on its last line.

Run: ``python bench/queue_core.py`` (starts its own ``redis-server`` on a free
loopback port).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import start_private_redis

PRIVATE_REDIS = start_private_redis()
os.environ.setdefault("REDIS_DB", "5")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

import django  # noqa: E402

django.setup()

from core.redis import get_redis  # noqa: E402
from queue_app import store  # noqa: E402

USERS = 1_000_000
PIPELINE = 1_000
SLICE = 100_000
LOOKUPS = 20_000
BATCHES = 20
EVENT_ID = 1
BARE_JOIN = """
local seq = redis.call('INCR', KEYS[1])
return redis.call('ZADD', KEYS[2], 'NX', seq, ARGV[1])
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bare_joins(r, users: range) -> float:
    """Seconds to join ``users`` with the simplest Lua join, bare redis-py pipelines."""
    sha = r.script_load(BARE_JOIN)
    started = time.perf_counter()
    for start in range(users.start, users.stop, PIPELINE):
        pipe = r.pipeline(transaction=False)
        for user in range(start, start + PIPELINE):
            pipe.evalsha(sha, 2, "bare:{1}:seq", "bare:{1}:waiting", user)
        pipe.execute()
    return time.perf_counter() - started


def project_joins(r, users: range) -> float:
    """Seconds to join ``users`` through the project's own join (pipelined)."""
    now = time.time()
    started = time.perf_counter()
    for start in range(users.start, users.stop, PIPELINE):
        pipe = r.pipeline(transaction=False)
        store.store_join_pipe(pipe, event_id=EVENT_ID, user_ids=range(start, start + PIPELINE), now=now)
        results = pipe.execute()
        assert store.store_join_parse(results[-1]).created
    return time.perf_counter() - started


def main() -> None:
    r = get_redis()
    r.flushdb()
    r.config_set("save", "")  # a background save would land in the middle of a measurement
    # Interleaved in slices so both see the same machine load.
    bare_seconds = project_seconds = 0.0
    for start in range(0, USERS, SLICE):
        users = range(start, start + SLICE)
        bare_seconds += bare_joins(r, users)
        project_seconds += project_joins(r, users)
    baseline, joins = USERS / bare_seconds, USERS / project_seconds
    r.delete("bare:{1}:seq", "bare:{1}:waiting")
    waiting = r.zcard(f"q:{{{EVENT_ID}}}:waiting")
    assert waiting == USERS
    waiting_bytes = r.memory_usage(f"q:{{{EVENT_ID}}}:waiting", samples=0)

    # Steady state: let Redis finish the incremental rehash that the last
    # growth of the 1,000,000-entry set started (its cron spends 1 ms of every
    # 100 ms on it, which a look-up arriving meanwhile waits behind).
    time.sleep(3)
    lookups = []
    now = time.time()
    for _ in range(LOOKUPS):
        user = random.randrange(USERS)
        started = time.perf_counter()
        state = store.store_state(event_id=EVENT_ID, user_id=user, now=now)
        lookups.append((time.perf_counter() - started) * 1000)
        assert state.state == "waiting"
    pings = []  # the floor: one bare round trip, measured alongside
    for _ in range(LOOKUPS):
        started = time.perf_counter()
        r.ping()
        pings.append((time.perf_counter() - started) * 1000)
    last = store.store_state(event_id=EVENT_ID, user_id=USERS - 1, now=now)
    assert last.rank == USERS - 1

    admits = []
    for i in range(BATCHES):
        now = time.time()
        started = time.perf_counter()
        result = store.store_admit(
            event_id=EVENT_ID,
            now=now + i,
            admitted_until=now + 600,
            max_n=1000,
            cap=10**9,
            interval=0.001,
            seats_left=None,
            status="on_sale",
        )
        admits.append((time.perf_counter() - started) * 1000)
        assert len(result.admitted) == 1000
    assert store.store_state(event_id=EVENT_ID, user_id=0, now=time.time()).state == "admitted"

    figures = {
        "users": USERS,
        "joins_per_s": round(joins),
        "baseline_joins_per_s": round(baseline),
        "ratio": round(joins / baseline, 3),
        "lookup_p50_ms": round(percentile(lookups, 0.50), 3),
        "lookup_p99_ms": round(percentile(lookups, 0.99), 3),
        "ping_p50_ms": round(percentile(pings, 0.50), 3),
        "ping_p99_ms": round(percentile(pings, 0.99), 3),
        "admit_1000_ms": round(statistics.median(admits), 3),
        "admit_1000_max_ms": round(max(admits), 3),
        "bytes_per_waiting": round(waiting_bytes / waiting, 1),
        "redis_version": r.info("server")["redis_version"],
    }
    r.flushdb()
    print(json.dumps(figures))


if __name__ == "__main__":
    try:
        main()
    finally:
        os.killpg(PRIVATE_REDIS.pid, signal.SIGTERM)
        PRIVATE_REDIS.wait()
