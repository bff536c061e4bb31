"""One application error type, mapped once to the contract's error shape.

Every JSON error body is ``{"error": "<code>", "detail": "<sentence>", ...extra}``.
Services raise :class:`ApplicationError`; DRF's own exceptions (401, 404, 400,
405, 429, ...) are translated here too, so no view formats an error by hand.

``detail`` (and any message under ``fields``) is a lazy translation
(``gettext_lazy``): it is put into words when the answer is rendered, in
the request's language (Korean or English; ``LocaleMiddleware``, or the
fast path's ``core.i18n``). The code stays an English identifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import OperationalError
from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy
from django_redis.exceptions import ConnectionInterrupted
from rest_framework import exceptions, status
from rest_framework.response import Response


class ApplicationError(Exception):
    """A domain error with its HTTP status, contract code and extra fields."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        code: str,
        detail: str | Promise,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        self.retry_after = retry_after
        self.extra = extra


class NotFound(ApplicationError, Http404):
    """404 ``not_found``. Also an ``Http404``, so a page view that raises it
    gets Django's 404 page while the API answers the contract's JSON."""

    def __init__(self, detail: str | Promise = gettext_lazy("Not found.")) -> None:
        super().__init__("not_found", detail, status_code=status.HTTP_404_NOT_FOUND)


class Invalid(ApplicationError):
    """400 ``invalid``, with per-field messages under ``fields`` when known."""

    def __init__(self, detail: str | Promise, *, fields: dict[str, list[Any]] | None = None) -> None:
        extra = {"fields": fields} if fields else {}
        super().__init__("invalid", detail, status_code=status.HTTP_400_BAD_REQUEST, **extra)


class Conflict(ApplicationError):
    def __init__(self, code: str, detail: str | Promise, **extra: Any) -> None:
        super().__init__(code, detail, status_code=status.HTTP_409_CONFLICT, **extra)


class Forbidden(ApplicationError):
    """403 with the contract's code: the person may not do this (yet)."""

    def __init__(self, code: str, detail: str | Promise, **extra: Any) -> None:
        super().__init__(code, detail, status_code=status.HTTP_403_FORBIDDEN, **extra)


class RateLimited(ApplicationError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(
            "rate_limited",
            gettext_lazy("Too many requests; try again later."),
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class ErrorParts:
    """A rendered error: status, the contract's body and the extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def error_parts(
    code: str, detail: str | Promise, status_code: int, *, retry_after: float | None = None, **extra: Any
) -> ErrorParts:
    """The contract's error body, plus ``Retry-After`` when the caller may try
    again; lazy messages are put into words here, in the active language."""
    headers = {} if retry_after is None else {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return ErrorParts(status_code, _worded({"error": code, "detail": detail, **extra}), headers)


def _worded(value: Any) -> Any:
    """``value`` with every lazy translation in it made a plain string."""
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, dict):
        return {key: _worded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_worded(item) for item in value]
    return value


def server_error_parts() -> ErrorParts:
    """500 ``server_error``: what no entry point knew how to answer."""
    return error_parts("server_error", gettext("Something went wrong on our side."), 500)


def error_response(
    code: str, detail: str | Promise, status_code: int, *, retry_after: float | None = None, **extra: Any
) -> Response:
    """Build the contract's error body (also used by plain Django views)."""
    parts = error_parts(code, detail, status_code, retry_after=retry_after, **extra)
    return Response(parts.body, status=parts.status, headers=parts.headers)


#: PostgreSQL or Redis out of reach or overloaded: Django's wrapper, psycopg's own
#: (the asyncio connections of ``core.pg``; its pool's ``PoolTimeout`` is one),
#: redis-py's, django-redis's.
UNAVAILABLE_ERRORS = (
    OperationalError,
    psycopg.OperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionInterrupted,
)


def service_error_parts(exc: Exception) -> ErrorParts | None:
    """What any entry point (DRF view or the ASGI fast path) answers for the
    errors services raise: an :class:`ApplicationError`, or an overloaded or
    unreachable PostgreSQL / Redis (a connection pool that stayed empty past
    its timeout, Django's or the fast path's; a refused connection; through the Django cache too, which
    django-redis reports as ``ConnectionInterrupted``), which is a "come back
    shortly" 503, never a 500. Lock timeouts are Busy (409) in
    reservations.locking before they get here. None for anything else."""
    if isinstance(exc, ApplicationError):
        return error_parts(exc.code, exc.detail, exc.status_code, retry_after=exc.retry_after, **exc.extra)
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return error_parts(
            "unavailable",
            gettext("The service is busy or briefly unavailable; try again shortly."),
            status.HTTP_503_SERVICE_UNAVAILABLE,
            retry_after=2,
        )
    return None


def request_error_parts(exc: Exception) -> ErrorParts | None:
    """What an API path answers for a request Django itself refuses
    (``SuspiciousOperation``: a hostile header, a disallowed host, ...): 400
    ``invalid``. A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413
    ``too_large`` with ``limit_bytes`` instead: the HTTP status for it, the
    one a proxy in front answers too, and a different remedy (send less,
    not something else). It is refused before the body is parsed, so it
    comes after 401, 404 and 403. None for anything else."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_parts(
            "too_large",
            gettext("The request body is larger than {limit} bytes.").format(limit=limit),
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            limit_bytes=limit,
        )
    if isinstance(exc, SuspiciousOperation):
        return error_parts("invalid", gettext("The request is not valid."), status.HTTP_400_BAD_REQUEST)
    return None


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {key: [str(m) for m in (value if isinstance(value, list) else [value])] for key, value in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {"non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: everything leaves in the contract's error shape."""
    parts = service_error_parts(exc) or request_error_parts(exc)
    if parts is not None:
        return Response(parts.body, status=parts.status, headers=parts.headers)
    if isinstance(exc, Http404):
        return error_response("not_found", gettext("Not found."), status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ParseError):
        return error_response("invalid", str(exc.detail), status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            "invalid", gettext("The request is not valid."), status.HTTP_400_BAD_REQUEST, fields=_flatten(exc.detail)
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = error_response(exc.default_code, str(exc.detail), status.HTTP_401_UNAUTHORIZED)
        request = context.get("request")
        authenticators = getattr(request, "authenticators", None)
        if authenticators:
            header = authenticators[0].authenticate_header(request)
            if header:
                response["WWW-Authenticate"] = header
        return response
    if isinstance(exc, exceptions.Throttled):
        return error_response(
            "rate_limited", str(exc.detail), status.HTTP_429_TOO_MANY_REQUESTS, retry_after=exc.wait or 1
        )
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        return error_response(str(code), str(exc.detail), exc.status_code)
    return None
