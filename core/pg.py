"""PostgreSQL for asyncio code (the booking fast path): one statement at a time.

Django's ORM is synchronous; an event-loop path that answers a hold or a
checkout in one round trip (a stored function) talks to PostgreSQL through
psycopg 3's own asyncio connections instead: a pool per event loop (an
asyncio connection belongs to the loop that opened it) when ``DB_POOL`` is
on, else a connection per statement, so tests see no connection left open.
Connections are in autocommit mode, so each statement is its own short
transaction; every lock wait is bounded by ``DB_LOCK_TIMEOUT_MS``; psycopg
prepares a statement on a connection once it has run it five times, so the
hot calls cost PostgreSQL no parsing or planning.

``sync_db`` is the other direction: a synchronous Django function (ORM,
settlement with the gateway) run from asyncio code in a worker thread that
gives its connection back afterwards.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections
from psycopg_pool import AsyncConnectionPool

P = ParamSpec("P")
R = TypeVar("R")

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = weakref.WeakKeyDictionary()


def _connect_kwargs() -> dict[str, Any]:
    """Where Django's default database is (its test database in tests), as psycopg keywords."""
    db = connections["default"].settings_dict
    kwargs: dict[str, Any] = {"dbname": db["NAME"], "autocommit": True, "application_name": "ticketing-async"}
    for name, key in (("user", "USER"), ("password", "PASSWORD"), ("host", "HOST"), ("port", "PORT")):
        if db.get(key):
            kwargs[name] = str(db[key])
    kwargs["options"] = f"-c lock_timeout={int(settings.DB_LOCK_TIMEOUT_MS)}ms -c timezone=UTC"
    return kwargs


def _pooled() -> bool:
    return "pool" in connections["default"].settings_dict.get("OPTIONS", {})


async def _pool_open() -> AsyncConnectionPool:
    pool = AsyncConnectionPool(
        kwargs=_connect_kwargs(),
        min_size=1,
        max_size=settings.ASYNC_DB_POOL_SIZE,
        open=False,
        timeout=settings.ASYNC_DB_POOL_TIMEOUT,
    )
    await pool.open()
    return pool


async def _pool() -> AsyncConnectionPool:
    """This event loop's pool, opened once however many callers ask at once."""
    loop = asyncio.get_running_loop()
    task = _pools.get(loop)
    if task is None:
        task = _pools[loop] = loop.create_task(_pool_open())
    return await asyncio.shield(task)


async def pg_fetchall(sql: str, params: list[Any]) -> list[tuple]:
    """Run one statement (its own transaction) and return its rows."""
    if _pooled():
        async with (await _pool()).connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()
    async with await psycopg.AsyncConnection.connect(**_connect_kwargs()) as conn:
        cursor = await conn.execute(sql, params)
        return await cursor.fetchall()


def sync_db(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``func`` for asyncio callers: run in a worker thread, its database
    connection given back (to Django's pool) when it is done."""

    @wraps(func)
    def closing(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(closing, thread_sensitive=False)
