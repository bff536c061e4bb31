"""Benchmark: the pre-queue draw at 1,000,000 entries.

Enters 1,000,000 people in one event's pre-queue through the project's own
join script (``queue_app.store.store_join_pipe``, pipelined: each entry
waits in the waiting set at its drawn place; interleaved with as many
plain joins of an event without a pre-queue, the same run's baseline),
opens the sale, then times
the draw as the beat makes it (``queue_app.services.draw_run``): the draw
in Redis (one atomic step that closes the pre-queue) and the public record
(every entry read back in drawn order, gzipped, written to PostgreSQL).
Meanwhile another process reads positions, to show what the record's
reads cost everyone else. After it: position look-ups (``store_state``,
one round trip) of random entrants against a bare ``PING``; Redis memory
per entry; and the check anyone can run of the public record
(``queue_app.draw.draw_problems``: all 1,000,000 keys recomputed and
sorted) plus the places of 2,000 random entrants against it. Prints one
JSON object on its last line.

Run: ``python bench/draw.py`` with ``DATABASE_URL`` naming a migrated
database (starts its own ``redis-server`` on a free loopback port).
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import multiprocessing.synchronize
import os
import random
import resource
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import redis

from bench.support import start_private_redis

PRIVATE_REDIS = start_private_redis()
os.environ.setdefault("REDIS_DB", "5")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

import django  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from core.redis import get_redis  # noqa: E402
from queue_app import services, store  # noqa: E402
from queue_app.draw import draw_problems  # noqa: E402
from queue_app.keys import active_key, drawn_key, entries_key, meta_key, waiting_key  # noqa: E402
from queue_app.selectors import event_sale_snapshot  # noqa: E402
from reservations.models import Draw, Event, PriceGrade, Seat  # noqa: E402
from reservations.services import event_create  # noqa: E402

ENTRIES = int(os.environ.get("DRAW_ENTRIES", "1000000"))
PIPELINE = 1_000
SLICE = 100_000
PLAIN_EVENT_ID = 10**9  # keys only: the plain joins' event needs no row
LOOKUPS = 20_000
CHECKED_PLACES = 2_000


def joins(r, event_id: int, users: range, now: float, prequeue: store.Prequeue | None) -> float:
    """Seconds to join ``users`` to the event through the project's join script, pipelined."""
    started = time.perf_counter()
    for start in range(users.start, users.stop, PIPELINE):
        pipe = r.pipeline(transaction=False)
        part = range(start, min(start + PIPELINE, users.stop))
        store.store_join_pipe(pipe, event_id=event_id, user_ids=part, now=now, prequeue=prequeue)
        assert store.store_join_parse(pipe.execute()[-1]).created
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def redis_cpu_seconds(r) -> float:
    info = r.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def memory(r, *keys: str) -> int:
    return sum(r.memory_usage(key, samples=0) or 0 for key in keys)


def lookups_during(event_id: int, opens: str, stop: multiprocessing.synchronize.Event, out) -> None:
    """Position look-ups of random entrants, each followed by a bare ``PING``
    (the same moment's floor), from another process (so the record's Python
    work does not hold them up, only Redis and the machine can), until ``stop``."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"], db=int(os.environ["REDIS_DB"]))
    keys = (waiting_key(event_id), active_key(event_id), meta_key(event_id), entries_key(event_id))
    script = client.register_script(Path(store.__file__).with_name("queue_state.lua").read_text())
    lookups, pings = [], []
    while not stop.is_set():
        began = time.perf_counter()
        script(keys=keys, args=[random.randint(1, ENTRIES), time.time(), opens])
        lookups.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        client.ping()
        pings.append((time.perf_counter() - began) * 1000)
        time.sleep(0.001)
    out.send((lookups, pings))


def main() -> None:
    r = get_redis()
    r.flushdb()
    r.config_set("save", "")
    event = event_create(
        name="Draw bench", venue_name="Bench Arena", sections="A:1x10:R:1000", opens_in=3600, prequeue_minutes=70
    )
    try:
        run(r, event)
    finally:
        Seat.objects.filter(event=event).delete()  # a grade protects its seats, an event its grades
        PriceGrade.objects.filter(event=event).delete()
        event.delete()


def run(r, event: Event) -> None:
    prequeue = event_sale_snapshot(event_id=event.id).prequeue
    now = time.time()
    # Interleaved in slices with plain joins of another event (no pre-queue),
    # so both see the same machine load: what an entry costs over a join.
    entering = joining = 0.0
    for start in range(1, ENTRIES + 1, SLICE):
        users = range(start, min(start + SLICE, ENTRIES + 1))
        entering += joins(r, event.id, users, now, prequeue)
        joining += joins(r, PLAIN_EVENT_ID, users, now, None)
    entries_per_s, joins_per_s = ENTRIES / entering, ENTRIES / joining
    r.delete(*(key.decode() for key in r.scan_iter(match=f"q:{{{PLAIN_EVENT_ID}}}:*")))
    assert r.hlen(entries_key(event.id)) == r.zcard(waiting_key(event.id)) == ENTRIES
    prequeue_bytes = memory(r, waiting_key(event.id), entries_key(event.id), drawn_key(event.id))

    past = timezone.now() - timedelta(seconds=1)
    Event.objects.filter(pk=event.id).update(prequeue_opens_at=past - timedelta(minutes=70), sale_opens_at=past)
    event.refresh_from_db()
    time.sleep(3)  # let Redis finish rehashing the grown sets before the clock starts

    # The draw in Redis (what the first join after the opening, the first
    # round or the beat does), then the record (what draw_run does after it).
    cpu, redis_cpu = cpu_seconds(), redis_cpu_seconds(r)
    started = time.perf_counter()
    made = store.store_draw_start(event_id=event.id, now=time.time())
    draw_seconds = time.perf_counter() - started
    assert made.drew and made.entrants == ENTRIES
    stop = multiprocessing.Event()
    receiving, sending = multiprocessing.Pipe(duplex=False)
    during = multiprocessing.Process(target=lookups_during, args=(event.id, prequeue.opens_arg, stop, sending))
    during.start()
    time.sleep(0.5)
    started = time.perf_counter()
    outcome = services.draw_run(event=event)
    record_seconds = time.perf_counter() - started
    stop.set()
    during_lookups, during_pings = receiving.recv()
    during.join()
    client_cpu = cpu_seconds() - cpu
    draw_redis_cpu = redis_cpu_seconds(r) - redis_cpu
    assert outcome is not None and outcome.recorded and outcome.entrants == ENTRIES

    time.sleep(3)
    lookups = []
    now = time.time()
    for _ in range(LOOKUPS):
        user = random.randint(1, ENTRIES)
        began = time.perf_counter()
        state = store.store_state(event_id=event.id, user_id=user, now=now, prequeue=prequeue)
        lookups.append((time.perf_counter() - began) * 1000)
        assert state.state == "waiting"
    recorded_bytes = memory(r, waiting_key(event.id), entries_key(event.id), drawn_key(event.id))
    pings = []
    for _ in range(LOOKUPS):
        began = time.perf_counter()
        r.ping()
        pings.append((time.perf_counter() - began) * 1000)

    # Anyone's check of the public record, at full size, and places against it.
    record = Draw.objects.get(event_id=event.id)
    gzipped = bytes(record.entries)
    listed = json.loads(gzip.decompress(gzipped))
    public = {"seed": event.draw_seed, "commitment": event.draw_commitment, "entrants": record.entrants}
    started = time.perf_counter()
    assert draw_problems(public, listed) == []
    verify_seconds = time.perf_counter() - started
    place = {entry: i for i, entry in enumerate(listed)}
    for user in random.sample(range(1, ENTRIES + 1), CHECKED_PLACES):
        state = store.store_state(event_id=event.id, user_id=user, now=now, prequeue=prequeue)
        assert state.rank == place[state.entry], (user, state)

    figures = {
        "entries": ENTRIES,
        "prequeue_joins_per_s": round(entries_per_s),
        "plain_joins_per_s": round(joins_per_s),
        "prequeue_join_ratio": round(entries_per_s / joins_per_s, 3),
        "draw_ms": round(draw_seconds * 1000, 3),
        "record_s": round(record_seconds, 3),
        "draw_and_record_s": round(draw_seconds + record_seconds, 3),
        "record_client_cpu_s": round(client_cpu, 3),
        "record_redis_cpu_s": round(draw_redis_cpu, 3),
        "record_gzip_bytes": len(gzipped),
        "lookup_during_record_p50_ms": round(percentile(during_lookups, 0.50), 3),
        "lookup_during_record_p99_ms": round(percentile(during_lookups, 0.99), 3),
        "ping_during_record_p99_ms": round(percentile(during_pings, 0.99), 3),
        "lookup_during_record_max_ms": round(max(during_lookups), 3),
        "lookup_p50_ms": round(percentile(lookups, 0.50), 3),
        "lookup_p99_ms": round(percentile(lookups, 0.99), 3),
        "ping_p50_ms": round(percentile(pings, 0.50), 3),
        "ping_p99_ms": round(percentile(pings, 0.99), 3),
        "bytes_per_entry_prequeue": round(prequeue_bytes / ENTRIES, 1),
        "bytes_per_entry_after_record": round(recorded_bytes / ENTRIES, 1),
        "verify_s": round(verify_seconds, 2),
        "places_checked": CHECKED_PLACES,
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
