"""Holds and checkouts served on the event loop, in front of Django.

After admission every shopper makes two requests that count: a hold
(``POST /api/events/{id}/holds/``) and a checkout (``POST
/api/holds/{id}/checkout/``). Through Django each costs a thread hop, the
middleware chain, DRF's request, authentication and renderer: most of the
booking path's CPU once each step is one SQL round trip. Here they run as
plain coroutines: the token from the Redis cache, the event from the
process's cache, the admission gate and the rate limit on Redis, the
stored function on an asyncio PostgreSQL connection (``core.pg``), the
answer written as DRF would.

The rules are the services' own: ``hold_create_async`` and
``checkout_async`` run the same checks and the same SQL functions as
``hold_create`` and ``checkout``, and the answer goes through the same
serializers and error rendering. Anything this module is not sure to
answer exactly as Django would goes to Django unchanged (its body played
back): session requests, a body that is not a plain JSON object of the
expected shape (extra or mixed fields, odd text), a token not in the
cache and unknown to the database (401), a replayed ``Idempotency-Key``,
other methods and hosts Django would refuse. ``BOOKING_FAST_PATH=0``
switches it off.

The seat status read (``GET /api/events/{id}/seats/status/``, with a token
and at most ``?since=``) is served here too: the stadium map's viewers ask
for it about once a second each; so is the layout (``.../seats/layout/``,
no login), every admitted shopper's first read of the seat page.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils import translation

from accounts.authentication import token_user_id_async
from core.errors import ErrorParts, server_error_parts, service_error_parts
from core.fastpath import (
    ASGIApp,
    body_read,
    body_replay,
    json_respond,
    request_headers,
    token_key,
    view_allow_header,
    view_headers,
    view_servable,
)
from core.i18n import language_headers, scope_language
from core.metrics import ROUTE, url_route
from core.pg import sync_db
from core.ratelimit import rate_limit_check_async
from core.request_context import context_note
from reservations import seat_status, selectors
from reservations.api import CheckoutApi, HoldCreateApi, SeatLayoutApi, SeatStatusApi
from reservations.checkout import checkout_async
from reservations.gates import admission_check_async
from reservations.health import booking_latency_record_async
from reservations.holds import hold_create_async
from reservations.serializers import hold_data, order_data

HOLD_PATH = re.compile(r"/api/events/([0-9]{1,18})/holds/")
CHECKOUT_PATH = re.compile(r"/api/holds/([0-9]{1,18})/checkout/")
STATUS_PATH = re.compile(r"/api/events/([0-9]{1,18})/seats/status/")
LAYOUT_PATH = re.compile(r"/api/events/([0-9]{1,18})/seats/layout/")
#: A path of each pattern, naming it in the metrics (``core.metrics.url_route``).
HOLD_SAMPLE = "/api/events/1/holds/"
CHECKOUT_SAMPLE = "/api/holds/1/checkout/"
STATUS_SAMPLE = "/api/events/1/seats/status/"
LAYOUT_SAMPLE = "/api/events/1/seats/layout/"
#: The status read's one query the fast path takes; anything else is Django's to judge.
STATUS_QUERY = re.compile(rb"(?:since=([0-9]{1,19}))?")
#: Bodies past this are Django's to read (and to refuse past its own limit).
MAX_BODY_BYTES = 4096
#: Card tokens and keys the fast path takes as they are: printable ASCII.
PLAIN_TEXT = re.compile(r"[\x21-\x7e]{1,255}")
JSON_CONTENT_TYPE = re.compile(rb"application/json\s*(;\s*charset=(utf-8|\"utf-8\"))?", re.IGNORECASE)

logger = logging.getLogger("django.request")

#: A route's answer (status, body, extra headers), or None: Django answers (nothing was written).
Route = Callable[[int, int, Any], Awaitable[tuple[int, Any, dict[str, str]] | None]]


class BookingFastPath:
    """ASGI middleware: serves token-authenticated holds and checkouts,
    hands every other HTTP request to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = STATUS_PATH.fullmatch(scope["path"])
            if match is not None and await _status(int(match[1]), scope, send):
                return
            match = LAYOUT_PATH.fullmatch(scope["path"])
            if match is not None and await _layout(int(match[1]), scope, send):
                return
        if scope["type"] == "http" and scope["method"] == "POST":
            arrived = time.perf_counter()
            routed = _route(scope["path"])
            if routed is not None:
                headers = request_headers(scope)
                key = token_key(headers)
                if key is not None and view_servable(scope, headers) and _json_declared(headers):
                    read = await body_read(receive, MAX_BODY_BYTES)
                    if read is None:
                        return  # the client went away: nobody to answer
                    body, complete = read
                    if (
                        complete
                        and len(body) <= MAX_BODY_BYTES
                        and await _serve(*routed, key, scope, headers, body, send, arrived)
                    ):
                        return
                    receive = body_replay(body, complete, receive)
        await self.app(scope, receive, send)


async def _status(event_id: int, scope: dict, send: Callable) -> bool:
    """``SeatStatusApi.get`` for a token and at most ``since``: every viewer
    of a stadium map asks about once a second, so it runs here, in its order
    (401 to Django, the event's 404, admission's 403), and sends the
    snapshot's bytes as the view does (``seat_status.status_wire``). False
    (nothing sent) when Django should answer."""
    arrived = time.perf_counter()
    headers = request_headers(scope)
    key = token_key(headers)
    query = STATUS_QUERY.fullmatch(scope.get("query_string", b""))
    if key is None or query is None or not view_servable(scope, headers):
        return False
    language = scope_language(scope)
    try:
        user_id = await token_user_id_async(key)
        if user_id is None:
            return False
        scope[ROUTE] = url_route(STATUS_SAMPLE)
        context_note(user_id=user_id, event_id=event_id)
        event = await selectors.event_for_booking_async(event_id=event_id)
        await admission_check_async(event=event, user_id=user_id)
        since = int(query[1]) if query[1] else None
        answer = await seat_status.status_answer_async(event_id=event.id, since=since)
    except Exception as exc:  # noqa: BLE001 - every error is answered; _error_parts logs an unexpected one
        await _error_respond(send, exc, scope, language, _status_view_headers(scope, headers))
        return True
    status, extra, body = seat_status.status_wire(answer, takes_gzip=_takes_gzip(headers))
    await _wire_respond(send, status, {**extra, **_status_view_headers(scope, headers)}, body, language)
    await booking_latency_record_async(time.perf_counter() - arrived)
    return True


async def _layout(event_id: int, scope: dict, send: Callable) -> bool:
    """``SeatLayoutApi.get``: an admitted shopper's first read of the seat
    page (no login, so no token needed), with the event's 404 as the view
    has it. A cookie (a session may add its headers) or a query string (DRF
    reads ``?format=``) is Django's to answer; so is whatever Django would
    not answer with the view. False (nothing sent) when Django should."""
    headers = request_headers(scope)
    if scope.get("query_string") or b"cookie" in headers or not view_servable(scope, headers):
        return False
    language = scope_language(scope)
    scope[ROUTE] = url_route(LAYOUT_SAMPLE)
    context_note(event_id=event_id)
    view_extra = view_headers(scope, headers, allow=_allow(SeatLayoutApi))
    try:
        event = await selectors.event_for_booking_async(event_id=event_id)
        layout = await seat_status.layout_get_async(event_id=event.id)
    except Exception as exc:  # noqa: BLE001 - every error is answered; _error_parts logs an unexpected one
        await _error_respond(send, exc, scope, language, view_extra)
        return True
    if_none_match = headers.get(b"if-none-match", b"").decode("latin-1")
    status, extra, body = seat_status.layout_wire(layout, if_none_match=if_none_match, takes_gzip=_takes_gzip(headers))
    await _wire_respond(send, status, {**extra, **view_extra}, body, language)
    return True


def _takes_gzip(headers: dict[bytes, bytes]) -> bool:
    return b"gzip" in headers.get(b"accept-encoding", b"").lower()


async def _wire_respond(send: Callable, status: int, headers: dict[str, str], body: bytes, language: str) -> None:
    """Bytes built for the view and the fast path alike (``seat_status``'s
    ``*_wire``), sent with the headers Django's middleware adds in ``language``."""
    answer_headers = {**headers, **language_headers(language, headers.get("Vary"))}
    raw = [(name.lower().encode(), value.encode()) for name, value in answer_headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _error_respond(send: Callable, exc: Exception, scope: dict, language: str, view_extra: dict) -> None:
    """A seat read's error, answered as the view's (``_error_parts``)."""
    parts = _error_parts(exc, scope, language)
    await json_respond(send, parts.status, parts.body, {**parts.headers, **view_extra, **language_headers(language)})


def _error_parts(exc: Exception, scope: dict, language: str) -> ErrorParts:
    """The error answer, its ``detail`` worded in ``language`` (the one
    Django would choose, ``core.i18n``); an unexpected error is logged, 500."""
    with translation.override(language):
        parts = service_error_parts(exc)
        if parts is None:
            logger.exception("Internal Server Error: %s", scope["path"])
            parts = server_error_parts()
    return parts


def _status_view_headers(scope: dict, headers: dict[bytes, bytes]) -> dict[str, str]:
    return view_headers(scope, headers, allow=_allow(SeatStatusApi))


def booking_fast_path_wrap(app: ASGIApp) -> ASGIApp:
    """``app`` behind the booking fast path, or alone when ``BOOKING_FAST_PATH`` is off."""
    return BookingFastPath(app) if settings.BOOKING_FAST_PATH else app


def _route(path: str) -> tuple[Route, int, str, str] | None:
    """The route's function, the id in the path, the view's ``Allow``, a sample path of its pattern."""
    match = HOLD_PATH.fullmatch(path)
    if match is not None:
        return _hold, int(match[1]), _allow(HoldCreateApi), HOLD_SAMPLE
    match = CHECKOUT_PATH.fullmatch(path)
    if match is not None:
        return _checkout, int(match[1]), _allow(CheckoutApi), CHECKOUT_SAMPLE
    return None


@cache
def _allow(view_class: type) -> str:
    return view_allow_header(view_class)


def _json_declared(headers: dict[bytes, bytes]) -> bool:
    """DRF parses the body as JSON only with this content type (else 415)."""
    return JSON_CONTENT_TYPE.fullmatch(headers.get(b"content-type", b"").strip()) is not None


def _json_object(body: bytes) -> dict | None:
    """The body as a flat JSON object, or None (Django's parser answers it)."""
    try:
        data = json.loads(body, parse_constant=_refuse)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return None
    return data if isinstance(data, dict) else None


def _refuse(constant: str) -> None:
    """``NaN`` and ``Infinity`` are no JSON (DRF's parser refuses them too)."""
    raise ValueError(constant)


async def _serve(
    route: Route,
    object_id: int,
    allow: str,
    sample_path: str,
    key: str,
    scope: dict,
    headers: dict,
    body: bytes,
    send: Callable,
    arrived: float,
) -> bool:
    """Answer the request; False (nothing sent) when Django should. The
    duration, from the request's arrival, goes to the booking path's
    latency histogram, which admission follows (as the views' does)."""
    data = _json_object(body)
    if data is None:
        return False
    language = scope_language(scope)
    try:
        user_id = await token_user_id_async(key)
        if user_id is None:
            return False
        scope[ROUTE] = url_route(sample_path)
        context_note(user_id=user_id)
        answer = await route(object_id, user_id, (data, headers))
        if answer is None:
            return False
    except Exception as exc:  # noqa: BLE001 - every error is answered; _error_parts logs an unexpected one
        parts = _error_parts(exc, scope, language)
        answer = parts.status, parts.body, parts.headers
    status, payload, extra = answer
    answer_headers = {**extra, **view_headers(scope, headers, allow=allow), **language_headers(language)}
    await json_respond(send, status, payload, answer_headers)
    await booking_latency_record_async(time.perf_counter() - arrived)
    return True


async def _hold(event_id: int, user_id: int, request: Any) -> tuple[int, Any, dict[str, str]] | None:
    """``HoldCreateApi.post`` for ``{"seat_ids": [...]}`` or ``{"quantity": n,
    "grade": "R"}``, in its order: the event (404), admission (403), the rate
    limit (429), then the hold."""
    data, _ = request
    seat_ids, quantity, grade = data.get("seat_ids"), data.get("quantity"), data.get("grade")
    by_ids = set(data) == {"seat_ids"} and isinstance(seat_ids, list) and len(seat_ids) <= 1000
    if by_ids and not all(type(i) is int for i in seat_ids):
        return None
    best = set(data) == {"quantity", "grade"} and type(quantity) is int and isinstance(grade, str)
    if not (by_ids or (best and PLAIN_TEXT.fullmatch(grade))):
        return None
    context_note(event_id=event_id)
    event = await selectors.event_for_booking_async(event_id=event_id)
    await admission_check_async(event=event, user_id=user_id)
    await rate_limit_check_async(scope="hold", subject=user_id, setting="RATE_LIMIT_HOLD")
    hold = await hold_create_async(event=event, user_id=user_id, seat_ids=seat_ids, quantity=quantity, grade=grade)
    return 201, hold_data(hold, hold.seats_written), {}


async def _checkout(hold_id: int, user_id: int, request: Any) -> tuple[int, Any, dict[str, str]] | None:
    """``CheckoutApi.post`` for a plain card token and ``Idempotency-Key``."""
    data, headers = request
    token = data.get("payment_token")
    key = headers.get(b"idempotency-key", b"").decode("latin-1")
    plain = isinstance(token, str) and PLAIN_TEXT.fullmatch(token) and PLAIN_TEXT.fullmatch(key)
    if set(data) != {"payment_token"} or not plain:
        return None
    result = await checkout_async(hold_id=hold_id, user_id=user_id, payment_token=token, idempotency_key=key)
    if result is None:
        return None
    if result.tickets is None:  # sold by reconciliation meanwhile: read as the view does
        order = await sync_db(selectors.order_get_or_404)(order_id=result.order.id, user_id=user_id)
        return 201, await sync_db(order_data)(order), {}
    return 201, order_data(result.order, result.tickets), {}
