"""Rate limits counted in Redis (fixed window, one round trip), per user
(joins, holds, PDF tickets) or per client address (registration, login).

A rate is written ``"N/s"``, ``"N/m"`` or ``"N/h"`` (settings
``RATE_LIMIT_JOIN``, ``RATE_LIMIT_HOLD``, ``RATE_LIMIT_REGISTER``,
``RATE_LIMIT_LOGIN``, ``RATE_LIMIT_PDF``). Past the limit the caller gets
:class:`core.errors.RateLimited` (429 ``rate_limited`` with
``Retry-After``).
"""

from __future__ import annotations

import time
from typing import NoReturn

from django.conf import settings

from core.errors import RateLimited
from core.redis import get_async_redis, get_redis

_PERIODS = {"s": 1, "m": 60, "h": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"30/m"`` -> ``(30, 60)``: (requests allowed, window in seconds)."""
    count, _, period = rate.partition("/")
    unit = period.strip()[-1:].lower()
    multiplier = int(period.strip()[:-1] or 1)
    if unit not in _PERIODS or not count.strip().isdigit():
        raise ValueError(f"bad rate {rate!r}: expected N/s, N/m or N/h")
    return int(count), _PERIODS[unit] * multiplier


def rate_window_start(now: float, window: int) -> int:
    """Start (unix seconds) of the fixed window of ``window`` seconds that holds ``now``."""
    return int(now // window) * window


def rate_limited_raise(*, now: float, window: int) -> NoReturn:
    """Refuse with 429, to try again when the next window starts."""
    raise RateLimited(retry_after=rate_window_start(now, window) + window - now)


def _window(setting: str, scope: str, subject: int | str) -> tuple[str, int, int, float]:
    """(counter key, limit, window, now) for one request now."""
    limit, window = parse_rate(getattr(settings, setting))
    now = time.time()
    return f"rl:{scope}:{subject}:{rate_window_start(now, window)}", limit, window, now


def rate_limit_check(*, scope: str, subject: int | str, setting: str) -> None:
    """Count one request of ``subject`` (a user id, a client address) in ``scope``; raise past the limit."""
    key, limit, window, now = _window(setting, scope, subject)
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count, _ = pipe.execute()
    if count > limit:
        rate_limited_raise(now=now, window=window)


async def rate_limit_check_async(*, scope: str, subject: int | str, setting: str) -> None:
    """``rate_limit_check`` for asyncio callers (the same counter)."""
    key, limit, window, now = _window(setting, scope, subject)
    pipe = get_async_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count, _ = await pipe.execute()
    if count > limit:
        rate_limited_raise(now=now, window=window)
