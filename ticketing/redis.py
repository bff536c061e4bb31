"""The one shared Redis client for the project's own Redis work (queue, limits).

django-redis serves the cache; the queue's Lua scripts and counters use a
plain redis-py client on the same ``REDIS_URL``, with one connection pool
per process.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        decode_responses=False,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
        max_connections=200,
    )
