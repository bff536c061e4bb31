"""Per-user rate limits counted in Redis (fixed window, one round trip).

A rate is written ``"N/s"``, ``"N/m"`` or ``"N/h"`` (settings
``RATE_LIMIT_JOIN``, ``RATE_LIMIT_HOLD``). Past the limit the caller gets
:class:`ticketing.errors.RateLimited` (429 ``rate_limited`` with
``Retry-After``).
"""

from __future__ import annotations

import time

from django.conf import settings

from ticketing.errors import RateLimited
from ticketing.redis import get_async_redis, get_redis

_PERIODS = {"s": 1, "m": 60, "h": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"30/m"`` -> ``(30, 60)``: (requests allowed, window in seconds)."""
    count, _, period = rate.partition("/")
    unit = period.strip()[-1:].lower()
    multiplier = int(period.strip()[:-1] or 1)
    if unit not in _PERIODS or not count.strip().isdigit():
        raise ValueError(f"bad rate {rate!r}: expected N/s, N/m or N/h")
    return int(count), _PERIODS[unit] * multiplier


def _window(setting: str, scope: str, user_id: int) -> tuple[str, int, int, float, int]:
    """(counter key, limit, window, now, window start) for one request now."""
    limit, window = parse_rate(getattr(settings, setting))
    now = time.time()
    window_start = int(now // window) * window
    return f"rl:{scope}:{user_id}:{window_start}", limit, window, now, window_start


def _refuse_past(count: int, limit: int, window: int, now: float, window_start: int) -> None:
    if count > limit:
        raise RateLimited(retry_after=window_start + window - now)


def rate_limit_check(*, scope: str, user_id: int, setting: str) -> None:
    """Count one request of ``user_id`` in ``scope``; raise past the limit."""
    key, limit, window, now, window_start = _window(setting, scope, user_id)
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count, _ = pipe.execute()
    _refuse_past(count, limit, window, now, window_start)


async def rate_limit_check_async(*, scope: str, user_id: int, setting: str) -> None:
    """``rate_limit_check`` for asyncio callers (the same counter)."""
    key, limit, window, now, window_start = _window(setting, scope, user_id)
    pipe = get_async_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count, _ = await pipe.execute()
    _refuse_past(count, limit, window, now, window_start)
