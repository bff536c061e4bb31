"""What one read of the organizer's live dashboard costs, on a big sale.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/b_dash REDIS_DB=5 python bench/dashboard.py

Makes a 50,000-seat event with 20,000 seats sold (20,000 paid orders and
payments written in bulk, spread over the last 30 minutes), 2,000 live
holds, 3,000 failed payments, 100,000 people waiting in the queue and a
full round log; then times the dashboard's read uncached
(``queue_app.selectors._dashboard_read``: what one process does once a
second per event, however many organizers watch) and through the shared
cache (what every other poll costs). The event is deleted afterwards.
Last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.redis import get_redis  # noqa: E402
from queue_app.keys import active_key, admitted_minutes_key, meta_key, rounds_key, seq_key, waiting_key  # noqa: E402
from queue_app.selectors import _dashboard_read, event_dashboard, event_dashboard_forget  # noqa: E402
from queue_app.services import timestamp_iso  # noqa: E402
from queue_app.store import ROUND_LOG_LENGTH, store_join_pipe, store_round_record  # noqa: E402
from reservations.models import Event, Hold, Order, Payment, PriceGrade, Seat  # noqa: E402
from reservations.services import event_create  # noqa: E402

SPEC = "A:100x100:VIP:220000,B:100x150:R:150000,C:100x150:S:90000,D:100x100:A:50000"  # 50,000 seats
SOLD, HELD, FAILED, WAITING = 20_000, 2_000, 3_000, 100_000
READS = 30


def _sale(event: Event, buyer_id: int) -> None:
    """Sold and held seats, orders and payments, written in bulk (one buyer: only counts matter here)."""
    now = timezone.now()
    seats = list(Seat.objects.filter(event=event).order_by("id").values_list("id", "grade__price")[: SOLD + HELD])
    holds = Hold.objects.bulk_create(
        Hold(event=event, user_id=buyer_id, status="checked_out", expires_at=now, seat_ids=[seat_id], total=price)
        for seat_id, price in seats[:SOLD]
    )
    orders = Order.objects.bulk_create(
        Order(event=event, user_id=buyer_id, hold=hold, total=hold.total, currency="KRW") for hold in holds
    )
    Payment.objects.bulk_create(
        Payment(user_id=buyer_id, hold=h, idempotency_key=f"k{h.id}", status="paid", amount=h.total, currency="KRW")
        for h in holds
    )
    spread = [now - timedelta(seconds=(i * 1800) // SOLD) for i in range(SOLD)]
    for order, at in zip(orders, spread, strict=True):
        order.created_at = at
    Order.objects.bulk_update(orders, ["created_at"], batch_size=5000)
    Seat.objects.filter(id__in=[s for s, _ in seats[:SOLD]]).update(status="sold")
    live = Hold.objects.create(event=event, user_id=buyer_id, expires_at=now + timedelta(minutes=5), total=0)
    Seat.objects.filter(id__in=[s for s, _ in seats[SOLD:]]).update(
        status="held", hold=live, held_until=now + timedelta(minutes=5)
    )
    Payment.objects.bulk_create(
        Payment(user_id=buyer_id, hold=live, idempotency_key=f"f{i}", status="declined", amount=1, currency="KRW")
        for i in range(FAILED)
    )


def _queue(event: Event) -> None:
    redis = get_redis()
    now = time.time()
    for start in range(0, WAITING, 10_000):
        pipe = redis.pipeline(transaction=False)
        store_join_pipe(pipe, event_id=event.id, user_ids=range(10**6 + start, 10**6 + start + 10_000), now=now)
        pipe.execute()
    redis.zadd(active_key(event.id), {str(i): now + 600 for i in range(1000)})
    redis.hset(meta_key(event.id), mapping={"rate": 16.5, "ctl_batch": 100, "ctl_reason": "booking p95 80 ms: growing"})
    for i in range(ROUND_LOG_LENGTH):
        at = now - ROUND_LOG_LENGTH + i
        entry = {"round": i, "at": timestamp_iso(at), "status": "on_sale", "admitted": 100, "lapsed": 3, "absent": 1}
        store_round_record(event_id=event.id, now=at, entry={**entry, "waiting": WAITING, "batch": 100}, admitted=100)


def _clean(event: Event) -> None:
    Payment.objects.filter(hold__event=event).delete()
    Order.objects.filter(event=event).delete()
    Seat.objects.filter(event=event).delete()
    Hold.objects.filter(event=event).delete()
    PriceGrade.objects.filter(event=event).delete()
    event.delete()
    keys = [f(event.id) for f in (active_key, meta_key, rounds_key, seq_key, waiting_key, admitted_minutes_key)]
    get_redis().delete(*keys)


def _timed(read: object, runs: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        read()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def main() -> None:
    call_command("migrate", verbosity=0)
    buyer, _ = get_user_model().objects.get_or_create(username="dashboard-bench")
    event = event_create(name="dashboard bench", venue_name="Benchmark Arena", sections=SPEC, batch=100)
    try:
        _sale(event, buyer.id)
        _queue(event)
        figures = _dashboard_read(event=event, minutes=30, now=timezone.now())
        assert figures["seats"]["sold"] == SOLD and figures["queue"]["waiting"] == WAITING, figures["seats"]
        walls, cpus = _timed(lambda: _dashboard_read(event=event, minutes=30, now=timezone.now()), READS)
        event_dashboard_forget(event_id=event.id)
        event_dashboard(event=event, minutes=30)
        cached_walls, cached_cpus = _timed(lambda: event_dashboard(event=event, minutes=30), READS * 10)
        result = {
            "dashboard": {
                "seats": figures["seats"]["total"],
                "orders": SOLD,
                "waiting": WAITING,
                "read_p50_ms": round(statistics.median(walls) * 1000, 1),
                "read_max_ms": round(max(walls) * 1000, 1),
                "read_cpu_ms": round(statistics.median(cpus) * 1000, 1),
                "cached_p50_ms": round(statistics.median(cached_walls) * 1000, 2),
                "cached_cpu_ms": round(statistics.median(cached_cpus) * 1000, 2),
                "json_bytes": len(json.dumps(figures)),
                "reads": READS,
            }
        }
    finally:
        _clean(event)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
