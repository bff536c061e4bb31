"""Each web process measures how late its event loop runs (``core.loop_lag``),
from the ASGI lifespan, and publishes it for admission's controller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from core.loop_lag import FRESH_SECONDS, KEY, loop_lag_peak, loop_lag_publish, loop_lag_seconds
from core.redis import get_redis
from ticketing.asgi import application


async def _lifespan() -> tuple[asyncio.Queue, asyncio.Queue, asyncio.Task]:
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(application({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.startup.complete"
    return inbox, outbox, task


async def _published(good: Callable[[float | None], bool]) -> float | None:
    """The published peak once ``good`` says so, polled for up to 3 s (two publications)."""
    for _ in range(60):
        peak = loop_lag_peak()
        if good(peak):
            return peak
        await asyncio.sleep(0.05)
    return loop_lag_peak()


async def test_the_application_probes_its_loop_from_startup_and_publishes_a_blocked_loop():
    get_redis().delete(KEY)
    inbox, outbox, task = await _lifespan()
    try:
        calm = await _published(lambda peak: peak is not None)  # the probe runs and publishes a calm loop
        assert calm < 100
        time.sleep(0.4)  # a sync call holding the loop, as a GIL-bound thread or a saturated core does
        await asyncio.sleep(0.05)
        assert loop_lag_seconds() >= 0.3  # the next request would add this wait to its own time
        # the next publication carries the worst wake of its interval
        assert await _published(lambda peak: peak is not None and peak >= 300) >= 300
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.shutdown.complete"
        await asyncio.wait_for(task, 5)


async def test_a_process_that_stopped_publishing_no_longer_counts():
    get_redis().delete(KEY)
    now = time.time()
    await loop_lag_publish(2.5, now=now - FRESH_SECONDS - 1)  # a worker that died while slow
    assert loop_lag_peak(now=now) is None
    assert get_redis().hlen(KEY) == 0  # and its entry is gone
