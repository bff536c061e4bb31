"""The queue's hot requests served on the event loop, in front of Django.

In an on-sale nearly every request is a join (``POST``) or a state read
(``GET``) of ``/api/events/{id}/queue/``. Through Django's ASGI handler a
request costs a new thread and several ``sync_to_async`` hops before the
view runs (on this 2-core machine Django's trivial ``/healthz`` tops out
near 1,600 requests/s, and a join behind it near 700/s). Here those two
requests run as plain coroutines: one Redis ``GET`` for the token, the
event's sale snapshot from process memory, one ``EVALSHA`` for the join; no
thread, no ORM. The rules are the services' own
(``queue_app.services.queue_join_async`` / ``queue_state_get_async``): this
module only reads the request and writes the contract's response.

Anything it is not sure to answer exactly as Django would goes to Django
unchanged: other paths and methods, requests without ``Authorization:
Token`` (browsers use the session cookie and CSRF), tokens not in the token
cache (Django checks PostgreSQL and fills the cache), hosts Django would
refuse, plain HTTP when ``SECURE_SSL_REDIRECT`` is on, and ``Accept``
headers the JSON renderer would refuse.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from accounts.tokens import token_cached_async
from core.errors import error_parts, service_error_parts
from queue_app.api import EventQueueApi
from queue_app.services import queue_join_async, queue_state_get_async

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]

QUEUE_PATH = re.compile(r"/api/events/([0-9]+)/queue/")
SERVED_METHODS = frozenset({"GET", "POST"})
JSON_MEDIA_TYPES = frozenset({"*/*", "application/*", "application/json"})

logger = logging.getLogger("django.request")


class QueueFastPath:
    """ASGI middleware: serves the queue's token-authenticated ``POST``/``GET``,
    hands every other HTTP request to ``app`` (Django)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] in SERVED_METHODS:
            match = QUEUE_PATH.fullmatch(scope["path"])
        if match is not None:
            headers = _headers(scope)
            key = _token_key(headers)
            if key is not None and _servable(scope, headers):
                if await _serve(int(match[1]), key, scope, headers, receive, send):
                    return
        await self.app(scope, receive, send)


def queue_fast_path_wrap(app: ASGIApp) -> ASGIApp:
    """``app`` behind the fast path, or ``app`` alone when the setting
    ``QUEUE_FAST_PATH`` is off (the switch to send every join through the
    Django view, should the fast path ever misbehave)."""
    return QueueFastPath(app) if settings.QUEUE_FAST_PATH else app


def _headers(scope: dict) -> dict[bytes, bytes]:
    """Request headers by lower-case name; a repeated header keeps its last value."""
    return dict(scope["headers"])


def _token_key(headers: dict[bytes, bytes]) -> str | None:
    """The key of a well-formed ``Authorization: Token <key>`` header (as DRF
    reads it); anything else, malformed included, is Django's to answer."""
    parts = headers.get(b"authorization", b"").split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        return None


def _secure(scope: dict, headers: dict[bytes, bytes]) -> bool:
    header, value = settings.SECURE_PROXY_SSL_HEADER or (None, None)
    if header is not None:
        name = header.removeprefix("HTTP_").replace("_", "-").lower().encode()
        forwarded = headers.get(name)
        if forwarded is not None:
            return forwarded.split(b",")[0].strip().decode("latin-1") == value
    return scope.get("scheme") == "https"


def _servable(scope: dict, headers: dict[bytes, bytes]) -> bool:
    """Would Django answer this request with the view (not a redirect, a 400
    for the host, or a 406 for ``Accept``)?"""
    if settings.SECURE_SSL_REDIRECT and not _secure(scope, headers):
        return False
    host, _ = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    accept = headers.get(b"accept")
    if accept is None:
        return True
    offered = {item.split(b";")[0].strip().decode("latin-1") for item in accept.split(b",")}
    return not offered.isdisjoint(JSON_MEDIA_TYPES)


async def _serve(
    event_id: int, key: str, scope: dict, headers: dict[bytes, bytes], receive: Callable, send: Callable
) -> bool:
    """Answer the request; False (nothing read or sent) when the token is not cached."""
    try:
        entry = await token_cached_async(key)
        if entry is None:
            return False
        if not await _body_drained(receive):
            return True  # the client went away: nothing to do, nobody to answer
        if scope["method"] == "POST":
            state, created = await queue_join_async(event_id=event_id, user_id=entry.id)
            status, body, extra = (201 if created else 200), state.as_dict(), {}
        else:
            status, body, extra = 200, (await queue_state_get_async(event_id=event_id, user_id=entry.id)).as_dict(), {}
    except Exception as exc:
        parts = service_error_parts(exc)
        if parts is None:
            logger.exception("Internal Server Error: %s", scope["path"])
            parts = error_parts("server_error", "Something went wrong on our side.", 500)
        status, body, extra = parts.status, parts.body, parts.headers
    await _respond(send, status, body, {**extra, **_view_headers(scope, headers)})
    return True


async def _body_drained(receive: Callable) -> bool:
    """Read (and drop) the request body, which the view ignores too; False
    when the client disconnected."""
    message: dict[str, Any] = {"more_body": True}
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
    return True


@cache
def _allow_header() -> str:
    """DRF's ``Allow`` for the queue view; Django's ``setup`` adds ``HEAD``
    to a view with ``GET``, as it does for every request."""
    view = EventQueueApi()
    view.setup(None)
    return ", ".join(view.allowed_methods)


def _view_headers(scope: dict, request_headers: dict[bytes, bytes]) -> dict[str, str]:
    """The headers Django's middleware and DRF add to the view's response."""
    headers = {"Allow": _allow_header()}
    if settings.X_FRAME_OPTIONS:
        headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers["Referrer-Policy"] = policy if isinstance(policy, str) else ",".join(policy)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    if settings.SECURE_HSTS_SECONDS and _secure(scope, request_headers):
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers["Strict-Transport-Security"] = hsts
    return headers


async def _respond(send: Callable, status: int, body: dict, headers: dict[str, str]) -> None:
    """JSON as DRF's ``JSONRenderer`` writes it (compact, UTF-8)."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
