"""The shared Redis clients for the project's own Redis work (queue, limits,
token cache).

django-redis serves Django's cache; the queue's Lua scripts, counters and
the token cache use plain redis-py clients on the same ``REDIS_URL``: one
connection pool per process for sync code, one per event loop for asyncio
code (an asyncio connection belongs to the loop that opened it).
"""

from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache

import redis
import redis.asyncio as aredis
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


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis] = weakref.WeakKeyDictionary()


def get_async_redis() -> aredis.Redis:
    """This event loop's client, on a pool that waits for a free connection
    instead of raising at its limit (redis-py 8's default pool raises past
    100 connections, which a burst of joins on one process reaches)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        pool = aredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=settings.ASYNC_REDIS_POOL_SIZE,
            timeout=None,
            socket_connect_timeout=5,
            socket_timeout=10,
        )
        client = _async_clients[loop] = aredis.Redis(connection_pool=pool)
    return client
