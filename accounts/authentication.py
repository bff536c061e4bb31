"""Token authentication: django-rest-knox's hashed, expiring tokens, with
the token -> user mapping cached in Redis (see ``accounts.tokens``)."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework import exceptions

from accounts.tokens import (
    CachedToken,
    token_cache_store,
    token_cache_store_async,
    token_cached,
    token_cached_async,
)
from core.pg import pg_fetchall, sync_db
from core.request_context import context_note


def cached_token_user(entry: CachedToken) -> Any:
    """An unsaved-looking but persisted user instance built from a cache entry
    (active by construction: deactivating a user drops its entries)."""
    user = get_user_model()(
        id=entry.id,
        username=entry.username,
        is_active=True,
        is_staff=entry.is_staff,
        is_superuser=entry.is_superuser,
    )
    user._state.adding = False
    user._state.db = "default"
    return user


class CachedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <token>``: the Redis cache first, else one
    look-up of the token's digest (knox's primary key) with its user.

    Knox's own check reads every token with the same 15-character prefix and
    then every other token of the user (to delete expired ones): two queries
    on each cold token. The digest is the key, so one indexed read finds the
    token; an expired token is deleted when it is presented."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        """knox's, and the user noted for the request's log lines."""
        found = super().authenticate(request)
        if found is not None:
            context_note(user_id=found[0].pk)
        return found

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        try:
            key = token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        cached = token_cached(key)
        if cached is not None:
            return cached_token_user(cached), None
        return self.token_look_up(key)

    def token_look_up(self, key: str) -> tuple[Any, Any]:
        """A token not in the cache: its digest's row, checked, then cached.
        The event-loop fast paths call it too (``token_user_cold``)."""
        read_started = time.time()
        auth_token = AuthToken.objects.select_related("user").filter(digest=hash_token(key)).first()
        if auth_token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
            auth_token.delete()
            raise exceptions.AuthenticationFailed("Invalid token.")
        user, _ = self.validate_user(auth_token)
        token_cache_store(key, user, expiry=auth_token.expiry, read_started=read_started)
        return user, auth_token


def token_user_cold(key: str) -> int | None:
    """The id of the token's user, looked up (and cached) as DRF would; None
    when DRF would answer 401. For asyncio callers through ``core.pg.sync_db``."""
    try:
        user, _ = CachedTokenAuthentication().token_look_up(key)
    except exceptions.AuthenticationFailed:
        return None
    return user.id


def _cold_sql() -> str:
    user_table = get_user_model()._meta.db_table
    return (
        f"SELECT t.expiry, u.id, u.username, u.is_staff, u.is_superuser, u.is_active "
        f"FROM {AuthToken._meta.db_table} t JOIN {user_table} u ON u.id = t.user_id WHERE t.digest = %s"
    )


async def token_user_cold_async(key: str) -> int | None:
    """``token_user_cold`` on the event loop: the same one read by digest
    (``core.pg``) and the same cache entry; an expired token, which knox
    deletes, goes through ``token_user_cold`` in a thread."""
    read_started = time.time()
    rows = await pg_fetchall(_cold_sql(), [hash_token(key)])
    if not rows:
        return None
    expiry, user_id, username, is_staff, is_superuser, is_active = rows[0]
    if expiry is not None and expiry <= timezone.now():
        return await sync_db(token_user_cold)(key)
    if not is_active:
        return None  # knox's validate_user: "User inactive or deleted."
    entry = CachedToken(id=user_id, username=username, is_staff=is_staff, is_superuser=is_superuser)
    await token_cache_store_async(key, entry, expiry=expiry, read_started=read_started)
    return user_id


async def token_user_id_async(key: str) -> int | None:
    """The token's user id for the event-loop fast paths: the cache, else the
    database (and the cache filled) as DRF would; None when DRF would answer
    401 (the caller hands the request to Django, which says so)."""
    entry = await token_cached_async(key)
    if entry is not None:
        return entry.id
    return await token_user_cold_async(key)
