"""WebSocket authentication: the Django session cookie (browsers) or an
``Authorization: Token <key>`` header on the handshake (other clients)."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
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


class OriginOptionalValidator(OriginValidator):
    """Channels' origin check, except that a handshake without ``Origin`` is
    let through (the contract: non-browser clients send none). Browsers
    always send ``Origin`` on a WebSocket handshake, so a cross-site page
    still cannot ride a visitor's session cookie."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or super().valid_origin(parsed_origin)


def AllowedHostsOriginValidator(application: Any) -> OriginOptionalValidator:  # noqa: N802 (Channels' naming)
    """Like ``channels.security.websocket.AllowedHostsOriginValidator``, with ``Origin`` optional."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return OriginOptionalValidator(application, allowed_hosts)
