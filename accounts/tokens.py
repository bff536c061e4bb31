"""The API-token cache: token -> user, in Redis, readable without a thread.

DRF's ``TokenAuthentication`` reads the token and its user from PostgreSQL on
every request; on the queue-join hot path that would be the most expensive
part. The mapping is kept here for ``TOKEN_CACHE_SECONDS``, written when a
token is first used and dropped when the token is deleted or its user saved
(``accounts.signals``). Entries are plain JSON in the project's own Redis so
that asyncio code (the queue fast path, the WebSocket handshake) reads them
with one non-blocking GET. Keys hold a SHA-256 of the token, never the
token itself: a Redis dump does not hand out credentials.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from core.redis import get_async_redis, get_redis

TOKEN_CACHE_SECONDS = 300


@dataclass(frozen=True)
class CachedToken:
    """What authentication needs to know about a token's user."""

    id: int
    username: str
    is_staff: bool
    is_superuser: bool


def token_cache_key(key: str) -> str:
    return "authtoken:" + hashlib.sha256(key.encode()).hexdigest()


def _decode(raw: bytes | None) -> CachedToken | None:
    return None if raw is None else CachedToken(**json.loads(raw))


def token_cached(key: str) -> CachedToken | None:
    return _decode(get_redis().get(token_cache_key(key)))


async def token_cached_async(key: str) -> CachedToken | None:
    return _decode(await get_async_redis().get(token_cache_key(key)))


def token_cache_store(key: str, user: Any) -> None:
    entry = CachedToken(
        id=user.id, username=user.get_username(), is_staff=user.is_staff, is_superuser=user.is_superuser
    )
    get_redis().set(token_cache_key(key), json.dumps(asdict(entry)), ex=TOKEN_CACHE_SECONDS)


def token_cache_forget(keys: Iterable[str]) -> None:
    names = [token_cache_key(k) for k in keys]
    if names:
        get_redis().delete(*names)
