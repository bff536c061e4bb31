"""How late this process's event loop runs what is ready.

A request's time in the application (from its arrival in the process to its
answer) misses the wait before it. On a saturated machine a request's bytes
sit in the event loop's ready queue, behind other requests' callbacks and
behind sync threads holding the GIL, for far longer than any handler runs:
the on-sale benchmark saw holds answered in under 10 ms of application time
while shoppers waited seconds. A probe per process sleeps a short period and
measures how late it wakes; that lateness is the wait a request arriving on
this loop now sees before any code of ours runs. ``reservations.health``
adds it to every booking request's duration, and every half second the
probe publishes it to Redis (``loop_lag_peak`` reads the worst process), so
admission follows what shoppers see, at once, not only what the handlers
spend once the slow requests finally finish.

The probe runs from the ASGI lifespan (``core.lifespan``): uvicorn starts
it in each worker process and cancels it at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

import redis

from core.redis import get_async_redis, get_redis

logger = logging.getLogger(__name__)

#: How often the probe wakes. Short enough to see a burst, long enough to cost nothing.
PERIOD_SECONDS = 0.05
#: Every this many wakes the process's figure goes to Redis.
PUBLISH_EVERY = 10
#: Readings older than this are a process that stopped: they no longer count.
FRESH_SECONDS = 3
#: Hash: process -> "its lag in ms:when" (two commands per publication).
KEY = "health:loop_lag"
#: Each reading keeps this share of the previous one: one late wake is not forgotten at once.
DECAY = 0.8

_lag_seconds = 0.0
_publishing: set[asyncio.Task] = set()  # publications under way (a reference, so none is collected early)


def loop_lag_seconds() -> float:
    """The loop's recent lateness in seconds (0 where no probe runs: tests, management commands)."""
    return _lag_seconds


def loop_lag_note(late_seconds: float) -> float:
    """Fold one reading into the process's figure: the larger of the new
    reading and the decayed old one (a peak shows at once, fades in about a
    second)."""
    global _lag_seconds
    _lag_seconds = max(max(0.0, late_seconds), _lag_seconds * DECAY)
    return _lag_seconds


def _process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def loop_lag_publish(lag_seconds: float, *, now: float | None = None) -> None:
    """Put this process's lag in the shared hash (never raises: Redis down must not stop the probe)."""
    stamp = time.time() if now is None else now
    try:
        await get_async_redis().hset(KEY, _process(), f"{lag_seconds * 1000:.1f}:{stamp:.3f}")
    except redis.RedisError:
        logger.warning("event-loop lag not published (Redis unavailable)")


def loop_lag_peak(*, now: float | None = None) -> float | None:
    """The worst lag in ms any web process published in the last
    ``FRESH_SECONDS`` (stale entries are removed); None when none did."""
    now = time.time() if now is None else now
    client = get_redis()
    peak, stale = None, []
    for process, raw in client.hgetall(KEY).items():
        lag_ms, _, stamp = raw.decode().partition(":")
        if now - float(stamp) > FRESH_SECONDS:
            stale.append(process)
        else:
            peak = max(peak or 0.0, float(lag_ms))
    if stale:
        client.hdel(KEY, *stale)
    return peak


async def loop_lag_probe(period: float = PERIOD_SECONDS) -> None:
    """Sleep ``period`` forever, noting how much later than asked each wake
    comes; every ``PUBLISH_EVERY`` wakes the worst of them is published."""
    loop = asyncio.get_running_loop()
    wakes, worst = 0, 0.0
    while True:
        asked = loop.time() + period
        await asyncio.sleep(period)
        late = loop.time() - asked
        loop_lag_note(late)
        wakes, worst = wakes + 1, max(worst, late)
        if wakes % PUBLISH_EVERY == 0:
            # In a task of its own: awaited here, the Redis round trip would be
            # time the probe does not watch, and a stall in it would go unseen.
            publishing = asyncio.create_task(loop_lag_publish(worst))
            _publishing.add(publishing)
            publishing.add_done_callback(_publishing.discard)
            worst = 0.0
