"""How fast the booking path answers right now, for admission to follow.

Every hold and checkout request adds its duration, plus the wait its event
loop imposes on any request right now (``core.loop_lag``: on a saturated
machine that wait is most of what a shopper sees), to a per-second histogram
in Redis (``HINCRBY`` of a bucket and an ``EXPIRE``), so the cost per
request is constant whatever the traffic. The event-loop path counts in
memory and each loop sends its counts every ``FLUSH_SECONDS`` in one
pipeline (``core.coalesce``): one round trip per loop per tick, not per request (it was 6 % of
a web worker's CPU in ``bench/orders.py``). The admission round reads the
last few whole seconds (``booking_latency_p95``), so a tenth of a second's
delay changes nothing it sees; counts a process dies holding are lost, a
tenth of a second of one process's signal.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import Counter
from typing import Any

import redis

from core.coalesce import LoopBatch
from core.loop_lag import loop_lag_seconds
from core.redis import get_async_redis, get_redis

logger = logging.getLogger(__name__)

#: Upper bounds of the histogram's buckets, in milliseconds (the last is open).
BUCKETS_MS = (10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2500, 5000, 10000)
KEEP_SECONDS = 60


def _key(second: int) -> str:
    return f"booking:latency:{second}"


#: How long the event-loop path keeps its counts before sending them.
FLUSH_SECONDS = 0.1


def _bucket(seconds: float) -> int:
    """The histogram bucket of a request of ``seconds``, the loop's current lag added."""
    return bisect.bisect_left(BUCKETS_MS, (seconds + loop_lag_seconds()) * 1000)


def _record(pipe: Any, counts: Counter[tuple[int, int]]) -> Any:
    """Queue the histogram's commands for ``counts`` ((second, bucket) -> requests) on ``pipe``."""
    for second, bucket in counts:
        pipe.hincrby(_key(second), str(bucket), counts[second, bucket])
    for second in {second for second, _ in counts}:
        pipe.expire(_key(second), KEEP_SECONDS)
    return pipe


def _second(now: float | None) -> int:
    return int(now if now is not None else time.time())


def booking_latency_record(seconds: float, *, now: float | None = None) -> None:
    """Count one booking request of ``seconds`` (never raises: a Redis hiccup must not fail a sale)."""
    try:
        _record(get_redis().pipeline(transaction=False), Counter({(_second(now), _bucket(seconds)): 1})).execute()
    except redis.RedisError:
        logger.warning("booking latency not recorded (Redis unavailable)")


async def _flush(requests: list[tuple[int, int]]) -> None:
    """Send one loop's counted requests ((second, bucket) each) in one pipeline."""
    try:
        await _record(get_async_redis().pipeline(transaction=False), Counter(requests)).execute()
    except redis.RedisError:
        logger.warning("booking latency not recorded (Redis unavailable)")


_pending: LoopBatch[tuple[int, int]] = LoopBatch(FLUSH_SECONDS, _flush)


async def booking_latency_record_async(seconds: float, *, now: float | None = None) -> None:
    """``booking_latency_record`` on the event loop (the booking fast path):
    counted here, in Redis within ``FLUSH_SECONDS``."""
    _pending.add((_second(now), _bucket(seconds)))


def booking_latency_p95(*, window_seconds: int = 5, now: float | None = None) -> tuple[float | None, int]:
    """(p95 in ms as its bucket's upper bound, requests counted) over the last
    ``window_seconds`` whole seconds; None when there were none."""
    second = int(now if now is not None else time.time())
    pipe = get_redis().pipeline(transaction=False)
    for past in range(1, window_seconds + 1):
        pipe.hgetall(_key(second - past))
    counts = [0] * (len(BUCKETS_MS) + 1)
    for histogram in pipe.execute():
        for bucket, count in histogram.items():
            counts[int(bucket)] += int(count)
    total = sum(counts)
    if not total:
        return None, 0
    seen, threshold = 0, 0.95 * total
    for bucket, count in enumerate(counts):
        seen += count
        if seen >= threshold:
            return float(BUCKETS_MS[bucket] if bucket < len(BUCKETS_MS) else BUCKETS_MS[-1] * 2), total
    return None, total
