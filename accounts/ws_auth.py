"""Who is connecting on a WebSocket handshake (``core.ws_gate`` asks).

Auth is the Django session cookie (browsers) or an ``Authorization: Token
<key>`` header (other clients). Only the user comes out of it: the session
is read only when there is no token header, and dropped once the user is
known, so an open socket holds no session or cookie objects.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from rest_framework import exceptions

from accounts.authentication import CachedTokenAuthentication, cached_token_user
from accounts.tokens import token_cached_async
from core.parsers import text_storable
from core.ws_gate import Headers, header_value

_lookup = threading.local()


def _in_lookup_context(func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func`` in a context kept by this worker thread for handshake
    look-ups, not in the copy of the socket's context that ``sync_to_async``
    hands it.

    Django's cache handler (sessions read through it) keeps one cache object
    (and its Redis client, about 17 KB) per context, and ``sync_to_async`` copies the context back
    to the awaiting task: a token looked up in the socket's context would
    leave a cache object in the socket's task for as long as it stays open,
    and make a new one, cyclic garbage later, at every handshake.
    """
    context = getattr(_lookup, "context", None)
    if context is None:
        context = _lookup.context = contextvars.Context()
    return context.run(func, *args)


def token_user(key: str) -> Any:
    """The token's user, or ``AnonymousUser`` for an unknown token (sync: may read PostgreSQL)."""
    try:
        user, _ = CachedTokenAuthentication().authenticate_credentials(key.encode())
    except exceptions.AuthenticationFailed:
        return AnonymousUser()
    return user


def _session_user(session_key: str) -> Any:
    """The session's user, verified against its auth hash (Django's ``get_user``)."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return get_user(SimpleNamespace(session=session))


def token_from_headers(headers: Headers) -> str | None:
    value = header_value(headers, b"authorization")
    if value is None:
        return None
    kind, _, key = value.decode("latin-1").partition(" ")
    return key.strip() if kind.lower() == "token" and key.strip() else None


@database_sync_to_async
def _lookup_user(token: str | None, session_key: str | None) -> Any:
    if any(value is not None and not text_storable(value) for value in (token, session_key)):
        return AnonymousUser()  # a NUL or a lone surrogate can match no stored credential
    if token is not None:
        return _in_lookup_context(token_user, token)
    if session_key:
        return _in_lookup_context(_session_user, session_key)
    return AnonymousUser()


async def handshake_user(headers: Headers) -> Any:
    """The connecting user, or ``AnonymousUser`` when no credential checks out.
    The token header wins; the session is read only when there is none. A
    token in the token cache costs one Redis ``GET`` on the event loop; only
    a cache miss or a session takes a thread."""
    token = token_from_headers(headers)
    if token is not None:
        cached = await token_cached_async(token)
        if cached is not None:
            return cached_token_user(cached)
    session_key = None
    if token is None:
        cookie = header_value(headers, b"cookie")
        if cookie is not None:
            session_key = parse_cookie(cookie.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)
    return await _lookup_user(token, session_key)
