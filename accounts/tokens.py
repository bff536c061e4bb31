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

Each web process also keeps its own copies of the entries it read
(``LocalTokens``), so that most requests ask Redis nothing about their token:
the ``GET`` was a tenth of the web processes' CPU in the on-sale benchmark.
A copy is trusted only while the process listens for revocations
(``token_revocations_listen``, started by the ASGI lifespan): every
revocation is published on ``REVOKED_CHANNEL`` by the same script that drops
the Redis entries, and each listener drops its copies. A listener that loses
its subscription drops every copy and trusts none until it is subscribed
again, and a read of Redis that a revocation overtook is not copied
(``LocalTokens.generation``). A copy never outlives its Redis entry or the
token's expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from typing import Any

import redis
import redis.asyncio as aredis
from django.conf import settings
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.commands.core import Script

from core.redis import get_async_redis, get_redis

logger = logging.getLogger(__name__)

TOKEN_CACHE_SECONDS = 300
#: Every revocation is announced on this channel, suffixed with the Redis db
#: (channels are server-wide): ``u:<user id>`` or ``k:<entry key>``.
REVOKED_CHANNEL = "authtoken:revoked"
#: The longest a process serves a token from its own copy before reading Redis again.
LOCAL_SECONDS = 60
#: At most this many copies per process; past it the oldest go first.
LOCAL_MAX_ENTRIES = 100_000
#: A listener that lost Redis subscribes again this soon.
LISTEN_RETRY_SECONDS = 1.0
#: The listeners' connections are named so (``CLIENT LIST``).
LISTENER_NAME = "token-revocations"

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
-- ARGV[1] now (unix seconds), ARGV[2] fence ttl, ARGV[3] the revocation channel, ARGV[4] its message
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
local entries = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(entries) do
  redis.call('DEL', key)
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
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
def revoked_channel() -> str:
    """This deployment's revocation channel (its Redis db's)."""
    return f"{REVOKED_CHANNEL}:{get_redis().connection_pool.connection_kwargs.get('db', 0)}"


@cache
def _scripts(client: Any) -> tuple[Script, Script]:
    return client.register_script(_STORE_LUA), client.register_script(_FORGET_USER_LUA)


def _decode(raw: bytes | None) -> tuple[CachedToken | None, float]:
    """The entry and until when it may be used (unix seconds: its Redis
    expiry; 0 for an entry written before that was stored with it)."""
    if raw is None:
        return None, 0.0
    fields = json.loads(raw)
    until = fields.pop("until", None) or 0.0
    return CachedToken(**fields), float(until)


class LocalTokens:
    """One event loop's copies of token entries (``entry key -> (entry,
    until)``), trusted only while ``live``: its revocation listener is
    subscribed. Every change happens on the loop's own thread."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[CachedToken, float]] = {}
        self.by_user: dict[int, set[str]] = {}
        #: Counts revocations heard (and losses of the subscription): a read
        #: of Redis that began before one is not copied.
        self.generation = 0
        self.live = False

    def get(self, name: str, now: float) -> CachedToken | None:
        found = self.entries.get(name)
        if found is None:
            return None
        if found[1] <= now:
            self.drop(name)
            return None
        return found[0]

    def put(self, name: str, entry: CachedToken, until: float) -> None:
        while len(self.entries) >= LOCAL_MAX_ENTRIES:
            self.drop(next(iter(self.entries)))
        self.entries[name] = (entry, until)
        self.by_user.setdefault(entry.id, set()).add(name)

    def drop(self, name: str) -> None:
        found = self.entries.pop(name, None)
        if found is not None:
            names = self.by_user.get(found[0].id)
            if names is not None:
                names.discard(name)
                if not names:
                    del self.by_user[found[0].id]

    def revoked(self, message: str) -> None:
        """A revocation: ``u:<user id>`` drops the user's copies, ``k:<entry key>`` one copy."""
        self.generation += 1
        kind, _, subject = message.partition(":")
        if kind == "u":
            for name in self.by_user.pop(int(subject), set()):
                self.entries.pop(name, None)
        elif kind == "k":
            self.drop(subject)

    def forget_all(self) -> None:
        """The subscription is lost (or new): a revocation may have gone unheard."""
        self.generation += 1
        self.entries.clear()
        self.by_user.clear()


_locals: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalTokens] = weakref.WeakKeyDictionary()


def _local_tokens() -> LocalTokens | None:
    """This loop's copies, when a listener keeps them (not in tests and
    management commands, which run no lifespan)."""
    local = _locals.get(asyncio.get_running_loop())
    return local if local is not None and local.live else None


def token_cached(key: str) -> CachedToken | None:
    return _decode(get_redis().get(token_cache_key(key)))[0]


async def token_cached_async(key: str) -> CachedToken | None:
    """The entry: this process's copy, else Redis's (then copied, unless a
    revocation came in while it was read)."""
    name = token_cache_key(key)
    local = _local_tokens()
    if local is None:
        return _decode(await get_async_redis().get(name))[0]
    now = time.time()
    entry = local.get(name, now)
    if entry is not None:
        return entry
    generation = local.generation
    entry, until = _decode(await get_async_redis().get(name))
    if entry is not None and until > now and local.live and local.generation == generation:
        local.put(name, entry, min(until, now + LOCAL_SECONDS))
    return entry


def _listener_client() -> aredis.Redis:
    """A connection of its own that never reconnects behind the listener's
    back: a revocation published while it was away would go unheard."""
    return aredis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=5, retry=AsyncRetry(NoBackoff(), 0), client_name=LISTENER_NAME
    )


async def token_revocations_listen() -> None:
    """Keep this loop's copies honest for as long as the process serves
    (started by the ASGI lifespan): subscribed, every revocation drops its
    copies; not subscribed, none is kept or trusted."""
    local = _locals.setdefault(asyncio.get_running_loop(), LocalTokens())
    while True:
        client = _listener_client()
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(revoked_channel())
            async for message in pubsub.listen():
                if message["type"] == "subscribe":
                    local.forget_all()  # from here on every revocation reaches us
                    local.live = True
                elif message["type"] == "message":
                    local.revoked(message["data"].decode())
        except (redis.RedisError, OSError):
            logger.warning("token revocations not heard (Redis unavailable): local token copies off")
        except Exception:
            logger.exception("token revocation listener failed: local token copies off")
        finally:
            local.live = False
            local.forget_all()
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.aclose()
                await client.aclose()
        await asyncio.sleep(LISTEN_RETRY_SECONDS)


def _store_call(key: str, entry: CachedToken, expiry: datetime | None, read_started: float) -> dict | None:
    """The store script's keys and arguments: cached until ``expiry``, at most
    ``TOKEN_CACHE_SECONDS``; None when the token has no time left."""
    ttl = TOKEN_CACHE_SECONDS
    if expiry is not None:
        ttl = min(ttl, int(expiry.timestamp() - time.time()))
    if ttl <= 0:
        return None
    keys = [token_cache_key(key), _user_index_key(entry.id), _user_fence_key(entry.id)]
    stored = json.dumps({**asdict(entry), "until": time.time() + ttl})
    return {"keys": keys, "args": [stored, ttl, read_started, TOKEN_CACHE_SECONDS]}


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
    """Drop these tokens' entries (a logout: the token itself is known), and
    every process's copies of them."""
    names = [token_cache_key(k) for k in keys]
    if names:
        pipe = get_redis().pipeline(transaction=True)
        pipe.delete(*names)
        for name in names:
            pipe.publish(revoked_channel(), f"k:{name}")
        pipe.execute()


def token_cache_forget_user(user_id: int) -> int:
    """Drop every cached token of the user and fence out reads that started
    before now (deactivation, password change, a revoked token)."""
    _, forget = _scripts(get_redis())
    keys = [_user_index_key(user_id), _user_fence_key(user_id)]
    return int(forget(keys=keys, args=[time.time(), TOKEN_CACHE_SECONDS, revoked_channel(), f"u:{user_id}"]))
