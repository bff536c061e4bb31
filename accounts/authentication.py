"""Token authentication: django-rest-knox's hashed, expiring tokens, with
the token -> user mapping cached in Redis (see ``accounts.tokens``)."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from accounts.tokens import CachedToken, token_cache_store, token_cached


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
    """``Authorization: Token <token>``: the Redis cache first, else knox's
    check against the stored digest (which also drops expired tokens)."""

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        try:
            key = token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        cached = token_cached(key)
        if cached is not None:
            return cached_token_user(cached), None
        read_started = time.time()
        user, auth_token = super().authenticate_credentials(token)
        token_cache_store(key, user, expiry=auth_token.expiry, read_started=read_started)
        return user, auth_token
