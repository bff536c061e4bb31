"""Each web process's own copies of token entries (``accounts.tokens.LocalTokens``):
used only while the process hears revocations, dropped by a revocation made
anywhere, dropped and not trusted while the subscription is lost, and never
older than the Redis entry they copy."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.authentication import token_user_id_async
from accounts.services import token_issue
from accounts.tokens import (
    LISTEN_RETRY_SECONDS,
    LISTENER_NAME,
    _local_tokens,
    token_cache_key,
    token_cached_async,
    token_revocations_listen,
)
from core.redis import get_redis

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def _listener_live() -> bool:
    return _local_tokens() is not None


@pytest.fixture
async def listening() -> AsyncIterator[None]:
    """The revocation listener on this test's event loop, as the lifespan starts it."""
    task = asyncio.create_task(token_revocations_listen())
    assert await _until(_listener_live)
    yield
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _copied(token: str) -> bool:
    """True when the token is served with its Redis entry gone: from this process's copy."""
    await sync_to_async(get_redis().delete)(token_cache_key(token))
    return await token_cached_async(token) is not None


async def _cached_token(make_user, name: str) -> tuple[str, int]:
    user = await sync_to_async(make_user)(name)
    token = await sync_to_async(lambda: token_issue(user=user))()
    assert await token_user_id_async(token) == user.id  # the cold read fills Redis
    assert await token_cached_async(token) is not None  # this read copies it
    return token, user.id


async def test_without_a_listener_no_copy_is_kept(make_user):
    user = await sync_to_async(make_user)("hana")
    token = await sync_to_async(lambda: token_issue(user=user))()
    assert await token_user_id_async(token) == user.id
    assert await token_cached_async(token) is not None
    assert not await _copied(token)  # tests, commands: Redis only, as before


async def test_a_revocation_in_another_process_drops_this_process_copy(make_user, listening):
    token, user_id = await _cached_token(make_user, "ines")
    assert await _copied(token)  # deleting the Redis entry alone leaves the copy: it is what serves
    revoke = f"import django; django.setup(); from accounts.tokens import token_cache_forget_user as f; f({user_id})"
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", revoke], cwd=ROOT, check=True, capture_output=True)
    assert await _until(lambda: _not_served(token), seconds=2)


async def _not_served(token: str) -> bool:
    return await token_cached_async(token) is None


async def test_a_logout_drops_every_copy_of_the_token(make_user, listening):
    token, _ = await _cached_token(make_user, "jack")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = await sync_to_async(client.post)("/api/auth/logout/")
    assert response.status_code == 204
    assert await _until(lambda: _not_served(token), seconds=2)


async def test_a_lost_subscription_drops_the_copies_and_trusts_none_until_back(make_user, listening):
    token, user_id = await _cached_token(make_user, "kira")
    assert await _copied(token)
    assert await sync_to_async(_kill_listener_connections)() == 1
    assert await _until(lambda: _not_served(token), seconds=2)  # a revocation now would go unheard
    assert await _until(_listener_live, seconds=LISTEN_RETRY_SECONDS + 3)  # subscribed again ...
    assert await _not_served(token)  # ... without the copies made before
    assert await token_user_id_async(token) == user_id  # from the database, into Redis
    assert await token_cached_async(token) is not None
    assert await _copied(token)  # and copied again


def _kill_listener_connections() -> int:
    """A real fault: Redis closes the listener's connection (as on a restart or a network cut)."""
    client = get_redis()
    db = client.connection_pool.connection_kwargs.get("db", 0)
    mine = [c for c in client.client_list() if c.get("name") == LISTENER_NAME and int(c.get("db", -1)) == db]
    for found in mine:
        client.client_kill_filter(_id=found["id"])
    return len(mine)


async def test_a_copy_never_outlives_its_redis_entry(make_user, listening):
    user = await sync_to_async(make_user)("lena")
    token = await sync_to_async(lambda: token_issue(user=user))()
    expiry = timezone.now() + timedelta(seconds=3)
    await sync_to_async(AuthToken.objects.filter(user_id=user.id).update)(expiry=expiry)
    assert await token_user_id_async(token) == user.id  # cached for the 2 whole seconds the token has left
    assert await token_cached_async(token) is not None
    assert await _copied(token)
    await asyncio.sleep(2.2)
    assert await token_cached_async(token) is None  # the copy ended with the entry it copied
