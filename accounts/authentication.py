"""Token authentication that does not hit PostgreSQL on every request.

DRF's ``TokenAuthentication`` reads the token and its user from the database
for each request; on the queue-join hot path that is the most expensive part.
Here the token -> user mapping is kept in the Redis cache for a few minutes
and dropped when the token is deleted or the user is deactivated
(``accounts.signals``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

TOKEN_CACHE_SECONDS = 300


def token_cache_key(key: str) -> str:
    return f"authtoken:{key}"


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        cached = cache.get(token_cache_key(key))
        if cached is not None:
            user = get_user_model()(
                id=cached["id"],
                username=cached["username"],
                is_active=True,
                is_staff=cached["is_staff"],
                is_superuser=cached["is_superuser"],
            )
            user._state.adding = False
            user._state.db = "default"
            return user, Token(key=key, user_id=cached["id"])
        try:
            token = Token.objects.select_related("user").get(key=key)
        except Token.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        user = token.user
        cache.set(
            token_cache_key(key),
            {
                "id": user.id,
                "username": user.get_username(),
                "is_staff": user.is_staff,
                "is_superuser": user.is_superuser,
            },
            TOKEN_CACHE_SECONDS,
        )
        return user, token
