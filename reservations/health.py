"""How fast the booking path answers right now, for admission to follow.

Every hold and checkout request adds its duration, plus the wait its event
loop imposes on any request right now (``core.loop_lag``: on a saturated
machine that wait is most of what a shopper sees), to a per-second histogram
in Redis (one pipelined round trip: ``HINCRBY`` of a bucket and an
``EXPIRE``), so the cost per request is constant whatever the traffic. The
admission round reads the last few seconds (``booking_latency_p95``) and
admits less while the path is slow (``queue_app.controller``).
"""

from __future__ import annotations

import bisect
import logging
import time
from typing import Any

import redis

from core.loop_lag import loop_lag_seconds
from core.redis import get_async_redis, get_redis

logger = logging.getLogger(__name__)

#: Upper bounds of the histogram's buckets, in milliseconds (the last is open).
BUCKETS_MS = (10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2500, 5000, 10000)
KEEP_SECONDS = 60


def _key(second: int) -> str:
    return f"booking:latency:{second}"


def _record(pipe: Any, seconds: float, now: float | None) -> Any:
    """Queue the histogram's two commands for one request of ``seconds`` (and
    the loop's current lag) on ``pipe``."""
    key = _key(int(now if now is not None else time.time()))
    pipe.hincrby(key, str(bisect.bisect_left(BUCKETS_MS, (seconds + loop_lag_seconds()) * 1000)), 1)
    pipe.expire(key, KEEP_SECONDS)
    return pipe


def booking_latency_record(seconds: float, *, now: float | None = None) -> None:
    """Count one booking request of ``seconds`` (never raises: a Redis hiccup must not fail a sale)."""
    try:
        _record(get_redis().pipeline(transaction=False), seconds, now).execute()
    except redis.RedisError:
        logger.warning("booking latency not recorded (Redis unavailable)")


async def booking_latency_record_async(seconds: float, *, now: float | None = None) -> None:
    """``booking_latency_record`` on the event loop (the booking fast path)."""
    try:
        await _record(get_async_redis().pipeline(transaction=False), seconds, now).execute()
    except redis.RedisError:
        logger.warning("booking latency not recorded (Redis unavailable)")


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
