"""The API-token cache: token -> user, in Redis, readable without a thread.

Tokens are django-rest-knox tokens: only their SHA-512 digest is stored in
PostgreSQL, and each has an expiry (``REST_KNOX["TOKEN_TTL"]``). Checking a
token against PostgreSQL on every request would be the most expensive part
of the queue-join hot path, so the mapping is kept here for at most
``TOKEN_CACHE_SECONDS`` (never past the token's expiry). Entries are JSON
under a SHA-256 of the token, so a Redis dump hands out no credentials, and
asyncio code (the queue fast path, the WebSocket handshake) reads them with
one non-blocking GET.

Revocation is on commit and fenced: ``token_cache_forget_user`` drops every
entry of the user and leaves a fence stamped with the time; an entry whose
database read started before the fence is refused
(``token_cache_store``). So a request that read the user just before a
deactivation committed cannot put the old user back into the cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from typing import Any

from redis.commands.core import Script

from core.redis import get_async_redis, get_redis

TOKEN_CACHE_SECONDS = 300

_STORE_LUA = """
-- KEYS[1] entry, KEYS[2] the user's index of entries, KEYS[3] the user's fence
-- ARGV[1] entry JSON, ARGV[2] ttl seconds, ARGV[3] when the database read started (unix seconds)
local fence = redis.call('GET', KEYS[3])
if fence and tonumber(fence) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

_FORGET_USER_LUA = """
-- KEYS[1] the user's index of entries, KEYS[2] the user's fence
-- ARGV[1] now (unix seconds), ARGV[2] fence ttl
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
local entries = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(entries) do
  redis.call('DEL', key)
end
redis.call('DEL', KEYS[1])
return #entries
"""


@dataclass(frozen=True)
class CachedToken:
    """What authentication needs to know about a token's user."""

    id: int
    username: str
    is_staff: bool
    is_superuser: bool


def token_cache_key(key: str) -> str:
    return "authtoken:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _user_index_key(user_id: int) -> str:
    return f"authtoken:user:{user_id}"


def _user_fence_key(user_id: int) -> str:
    return f"authtoken:fence:{user_id}"


@cache
def _scripts(client: Any) -> tuple[Script, Script]:
    return client.register_script(_STORE_LUA), client.register_script(_FORGET_USER_LUA)


def _decode(raw: bytes | None) -> CachedToken | None:
    return None if raw is None else CachedToken(**json.loads(raw))


def token_cached(key: str) -> CachedToken | None:
    return _decode(get_redis().get(token_cache_key(key)))


async def token_cached_async(key: str) -> CachedToken | None:
    return _decode(await get_async_redis().get(token_cache_key(key)))


def _store_call(key: str, entry: CachedToken, expiry: datetime | None, read_started: float) -> dict | None:
    """The store script's keys and arguments: cached until ``expiry``, at most
    ``TOKEN_CACHE_SECONDS``; None when the token has no time left."""
    ttl = TOKEN_CACHE_SECONDS
    if expiry is not None:
        ttl = min(ttl, int(expiry.timestamp() - time.time()))
    if ttl <= 0:
        return None
    keys = [token_cache_key(key), _user_index_key(entry.id), _user_fence_key(entry.id)]
    return {"keys": keys, "args": [json.dumps(asdict(entry)), ttl, read_started, TOKEN_CACHE_SECONDS]}


def token_cache_store(key: str, user: Any, *, expiry: datetime | None, read_started: float) -> bool:
    """Cache the token's user until ``expiry`` (at most ``TOKEN_CACHE_SECONDS``),
    unless the user was revoked after ``read_started``; True when stored."""
    entry = CachedToken(
        id=user.id, username=user.get_username(), is_staff=user.is_staff, is_superuser=user.is_superuser
    )
    call = _store_call(key, entry, expiry, read_started)
    return call is not None and bool(_scripts(get_redis())[0](**call))


async def token_cache_store_async(
    key: str, entry: CachedToken, *, expiry: datetime | None, read_started: float
) -> bool:
    """``token_cache_store`` on the event loop."""
    call = _store_call(key, entry, expiry, read_started)
    return call is not None and bool(await _scripts(get_async_redis())[0](**call))


def token_cache_forget(keys: Iterable[str]) -> None:
    """Drop these tokens' entries (a logout: the token itself is known)."""
    names = [token_cache_key(k) for k in keys]
    if names:
        get_redis().delete(*names)


def token_cache_forget_user(user_id: int) -> int:
    """Drop every cached token of the user and fence out reads that started
    before now (deactivation, password change, a revoked token)."""
    _, forget = _scripts(get_redis())
    return int(
        forget(keys=[_user_index_key(user_id), _user_fence_key(user_id)], args=[time.time(), TOKEN_CACHE_SECONDS])
    )
