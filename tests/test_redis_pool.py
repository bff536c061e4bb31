"""core.redis.WaitingConnectionPool: a burst past the pool's size waits its
turn on that many connections, where redis-py's plain pool raises."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
import redis.asyncio as aredis
from django.conf import settings

from core.redis import WaitingConnectionPool

SIZE = 3
BURST = 200


def _named_clients(name: str) -> int:
    with redis.Redis.from_url(settings.REDIS_URL) as admin:
        return sum(1 for client in admin.client_list() if client["name"] == name)


@pytest.mark.parametrize("waiting", [True, False])
async def test_a_burst_past_the_limit_waits_on_that_many_connections(waiting: bool):
    """Each command holds its connection a moment (``BLPOP`` on an empty list);
    two hundred at once on a pool of three. Without the waiting pool the
    burst is refused past the third (the race it closes)."""
    name = f"pool-{uuid.uuid4().hex[:8]}"
    pool_class = WaitingConnectionPool if waiting else aredis.ConnectionPool
    client = aredis.Redis(
        connection_pool=pool_class.from_url(settings.REDIS_URL, max_connections=SIZE, client_name=name)
    )
    try:
        answers = await asyncio.gather(
            *(client.blpop([f"{name}:never"], timeout=0.01) for _ in range(BURST)), return_exceptions=True
        )
        refused = [a for a in answers if isinstance(a, Exception)]
        if waiting:
            assert refused == []
            assert answers == [None] * BURST
        else:
            assert refused and all(isinstance(a, redis.ConnectionError) for a in refused)
        assert _named_clients(name) <= SIZE  # connections stay pooled: the server sees every one ever opened
    finally:
        await client.aclose(close_connection_pool=True)
