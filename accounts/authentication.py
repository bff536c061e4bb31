"""Token authentication that does not hit PostgreSQL on every request
(the token -> user mapping is cached in Redis, see ``accounts.tokens``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

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
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        cached = token_cached(key)
        if cached is not None:
            return cached_token_user(cached), Token(key=key, user_id=cached.id)
        try:
            token = Token.objects.select_related("user").get(key=key)
        except Token.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        token_cache_store(key, token.user)
        return token.user, token
