"""WebSocket authentication: the Django session cookie (browsers) or an
``Authorization: Token <key>`` header on the handshake (other clients)."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions

from accounts.authentication import CachedTokenAuthentication


@database_sync_to_async
def _user_for_token(key: str) -> Any:
    try:
        user, _ = CachedTokenAuthentication().authenticate_credentials(key)
    except exceptions.AuthenticationFailed:
        return AnonymousUser()
    return user


class TokenHeaderAuthMiddleware(AuthMiddleware):
    """Puts the token's user in ``scope["user"]`` when the header is present."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                kind, _, key = value.decode("latin-1").partition(" ")
                if kind.lower() == "token" and key.strip():
                    scope["user"]._wrapped = await _user_for_token(key.strip())
                    return
        await super().resolve_scope(scope)


def SessionOrTokenAuthMiddleware(inner: Any) -> Any:  # noqa: N802 (Channels' naming)
    from channels.sessions import CookieMiddleware, SessionMiddleware

    return CookieMiddleware(SessionMiddleware(TokenHeaderAuthMiddleware(inner)))
