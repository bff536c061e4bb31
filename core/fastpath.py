"""The pieces every event-loop fast path shares (the queue's and booking's).

A fast path is ASGI middleware in front of Django that answers a few hot
requests as plain coroutines, exactly as Django and DRF would: the same
status, body and headers. These helpers read the request as Django would
(headers, the token header as DRF reads it, whether Django would answer the
view at all) and write the response as DRF's ``JSONRenderer`` and Django's
middleware would. Anything a fast path is not sure of goes to Django
unchanged, with the body it already read played back (``body_replay``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]

JSON_MEDIA_TYPES = frozenset({"*/*", "application/*", "application/json"})


def request_headers(scope: dict) -> dict[bytes, bytes]:
    """Request headers by lower-case name; a repeated header keeps its last value."""
    return dict(scope["headers"])


def token_key(headers: dict[bytes, bytes]) -> str | None:
    """The key of a well-formed ``Authorization: Token <key>`` header (as DRF
    reads it); anything else, malformed included, is Django's to answer."""
    parts = headers.get(b"authorization", b"").split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        return None


def request_secure(scope: dict, headers: dict[bytes, bytes]) -> bool:
    header, value = settings.SECURE_PROXY_SSL_HEADER or (None, None)
    if header is not None:
        name = header.removeprefix("HTTP_").replace("_", "-").lower().encode()
        forwarded = headers.get(name)
        if forwarded is not None:
            return forwarded.split(b",")[0].strip().decode("latin-1") == value
    return scope.get("scheme") == "https"


def view_servable(scope: dict, headers: dict[bytes, bytes]) -> bool:
    """Would Django answer this request with the view (not a redirect, a 400
    for the host, or a 406 for ``Accept``)?"""
    if settings.SECURE_SSL_REDIRECT and not request_secure(scope, headers):
        return False
    host, _ = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    accept = headers.get(b"accept")
    if accept is None:
        return True
    offered = {item.split(b";")[0].strip().decode("latin-1") for item in accept.split(b",")}
    return not offered.isdisjoint(JSON_MEDIA_TYPES)


async def body_read(receive: Callable, limit: int) -> tuple[bytes, bool] | None:
    """The request body, read up to ``limit`` bytes: ``(body, complete)``;
    None when the client disconnected. A body past the limit is left
    unread after it (``complete`` False), for Django to read and refuse."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def body_replay(body: bytes, complete: bool, receive: Callable) -> Callable:
    """A ``receive`` that plays back what a fast path read, then the rest."""
    pending = [{"type": "http.request", "body": body, "more_body": not complete}]

    async def replayed() -> dict:
        return pending.pop() if pending else await receive()

    return replayed


def view_allow_header(view_class: type) -> str:
    """DRF's ``Allow`` for a view; Django's ``setup`` adds ``HEAD`` to a view
    with ``GET``, as it does for every request."""
    view = view_class()
    view.setup(None)
    return ", ".join(view.allowed_methods)


def view_headers(scope: dict, request_headers: dict[bytes, bytes], *, allow: str) -> dict[str, str]:
    """The headers Django's middleware and DRF add to the view's response."""
    headers = {"Allow": allow}
    if settings.X_FRAME_OPTIONS:
        headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers["Referrer-Policy"] = policy if isinstance(policy, str) else ",".join(policy)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    if settings.SECURE_HSTS_SECONDS and request_secure(scope, request_headers):
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers["Strict-Transport-Security"] = hsts
    return headers


async def json_respond(send: Callable, status: int, body: Any, headers: dict[str, str]) -> None:
    """JSON as DRF's ``JSONRenderer`` writes it (compact, UTF-8)."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
