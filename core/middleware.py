"""Request checks that run before any view, session or token look-up."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponseBase

from core.parsers import text_storable


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
