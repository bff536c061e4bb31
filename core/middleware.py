"""Request checks that run before any view, session or token look-up, and
the request's names for logs and metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponseBase

from core.metrics import ROUTE, UNMATCHED_ROUTE
from core.parsers import text_storable
from core.request_context import context_forget, context_note

STATIC_ROUTE = "<static>"


class RequestContextMiddleware:
    """Names what a request is about, first in the chain: the URL pattern it
    matched goes into the ASGI scope for the HTTP histogram's ``route``
    label (the pattern, never the path: bounded cardinality; static files
    and paths no pattern matched get one label each), and its event and
    user into the log context (``core.request_context``). The user is noted
    only for requests with a session cookie, whose views read it anyway;
    token users are noted by the token authentication."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        context_forget()  # a server that reuses a thread's context (WSGI, the test client) starts afresh
        response = self.get_response(request)
        scope = getattr(request, "scope", None)  # ASGI only: the test client's requests have none
        if scope is not None:
            scope[ROUTE] = _route(request)
        return response

    def process_view(self, request: HttpRequest, view: Callable, args: Any, kwargs: dict[str, Any]) -> None:
        event_id = kwargs.get("event_id")
        user = getattr(request, "user", None) if settings.SESSION_COOKIE_NAME in request.COOKIES else None
        context_note(
            event_id=event_id if isinstance(event_id, int) else None,
            user_id=user.pk if user is not None and user.is_authenticated else None,
        )


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return "/" + match.route
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return STATIC_ROUTE
    return UNMATCHED_ROUTE


class UnstorableHeader(SuspiciousOperation):
    """A header value holds text PostgreSQL cannot store."""


class HeaderTextMiddleware:
    """Keep text PostgreSQL cannot store (NUL; from an in-process client, a
    lone surrogate) out of the header values that are looked up in it: the
    session cookie, ``Authorization: Token`` and ``Idempotency-Key`` each made
    such a request a 500.

    A header value holding it is refused as 400 (``SuspiciousOperation``, so
    ``handler400`` answers: the contract's JSON on API paths, Django's page
    elsewhere); uvicorn's HTTP parsers refuse a raw NUL in a header the same
    way. A cookie can still carry one as a quoted ``"\\000"``, which Django
    decodes: such a cookie is dropped instead, as if never sent, so a
    planted cookie cannot lock a browser out (a session cookie that names no
    session simply gets a fresh one).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        for name, value in request.META.items():
            if name.startswith("HTTP_") and isinstance(value, str) and not text_storable(value):
                raise UnstorableHeader(f"The {name[5:].replace('_', '-').title()} header holds unstorable text.")
        if not all(text_storable(value) for value in request.COOKIES.values()):
            request.COOKIES = {name: value for name, value in request.COOKIES.items() if text_storable(value)}
        return self.get_response(request)
