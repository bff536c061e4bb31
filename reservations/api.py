"""Booking HTTP API: thin views over selectors and services."""

from __future__ import annotations

import re
import time
from typing import Any

from django.http import HttpResponse
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.asgi_handler import RECEIVED_AT
from core.errors import Invalid
from core.ratelimit import rate_limit_check
from core.responses import not_modified_response, stored_json_response
from reservations import seat_status, selectors
from reservations.checkout import checkout
from reservations.gates import admission_check
from reservations.health import booking_latency_record
from reservations.holds import hold_create, hold_release
from reservations.serializers import event_data, hold_data, order_data, ticket_data


class EventListApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        events = list(selectors.event_list())
        counts = selectors.event_seat_counts(event_ids=[e.id for e in events])
        return Response([event_data(e, counts[e.id]) for e in events])


class EventDetailApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request, event_id: int) -> Response:
        event = selectors.event_get_or_404(event_id=event_id)
        counts = selectors.event_seat_counts(event_ids=[event.id])
        return Response(event_data(event, counts[event.id]))


#: ``?since=``: a version, digits only (a million-digit number is refused before ``int`` reads it).
SINCE = re.compile(r"[0-9]{1,19}")
#: Shared caches may keep the layout a minute and serve it stale while they revalidate.
LAYOUT_CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=300"


def _int_or_none(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{name} must be an integer.", fields={name: ["Must be an integer."]})
    return value


def _hold_input(data: Any) -> dict[str, Any]:
    """The hold body's shape: ``seat_ids`` (integers), or ``quantity`` and ``grade``."""
    if not isinstance(data, dict):
        raise Invalid("Send a JSON object with seat_ids, or quantity and grade.")
    seat_ids = data.get("seat_ids")
    if seat_ids is not None and (
        not isinstance(seat_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in seat_ids)
    ):
        raise Invalid("seat_ids must be a list of seat ids.", fields={"seat_ids": ["Must be a list of integers."]})
    grade = data.get("grade")
    if grade is not None and not isinstance(grade, str):
        raise Invalid("grade must be a string.", fields={"grade": ["Must be a string."]})
    return {"seat_ids": seat_ids, "quantity": _int_or_none(data, "quantity"), "grade": grade}


def _since(request: Request) -> int | None:
    raw = request.query_params.get("since")
    if raw is None:
        return None
    if not SINCE.fullmatch(raw):
        raise Invalid("since must be a version: a whole number.", fields={"since": ["Must be a whole number."]})
    return int(raw)


class SeatLayoutApi(APIView):
    """The layout, for everyone (no login: nothing in it is anyone's), built
    once and cached by shared caches; ``If-None-Match`` with its tag is 304."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request, event_id: int) -> HttpResponse:
        event = selectors.event_for_booking(event_id=event_id)
        layout = seat_status.layout_get(event_id=event.id)
        headers = {"ETag": layout.etag, "Cache-Control": LAYOUT_CACHE_CONTROL}
        not_modified = not_modified_response(request, headers)
        if not_modified is not None:
            return not_modified
        return stored_json_response(request, layout.gzipped, headers)


class SeatStatusApi(APIView):
    """Every seat's status as one shared snapshot (admitted shoppers, as the
    seat map); ``?since=`` is 304 or the seats changed since. Token requests
    are answered on the event loop (``reservations.fastpath``), the same way."""

    def get(self, request: Request, event_id: int) -> HttpResponse:
        event = selectors.event_for_booking(event_id=event_id)
        admission_check(event=event, user_id=request.user.id)
        answer = seat_status.status_answer(event_id=event.id, since=_since(request))
        takes_gzip = "gzip" in request.headers.get("Accept-Encoding", "").lower()
        status_code, headers, body = seat_status.status_wire(answer, takes_gzip=takes_gzip)
        response = HttpResponse(body, status=status_code, content_type=headers.pop("Content-Type", None))
        for name, value in headers.items():
            response[name] = value
        return response


class SeatMapApi(APIView):
    def get(self, request: Request, event_id: int) -> Response:
        event = selectors.event_for_booking(event_id=event_id)
        admission_check(event=event, user_id=request.user.id)
        return Response({"seats": selectors.seat_map(event_id=event.id)})


class BookingLatencyRecorded(APIView):
    """Adds each request's duration to the booking path's latency histogram
    (``reservations.health``), which admission follows."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        scope = getattr(request, "scope", None) or {}  # under ASGI: from the request's arrival in the process
        started = scope.get(RECEIVED_AT, time.perf_counter())
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            booking_latency_record(time.perf_counter() - started)


class HoldCreateApi(BookingLatencyRecorded):
    def post(self, request: Request, event_id: int) -> Response:
        event = selectors.event_for_booking(event_id=event_id)
        admission_check(event=event, user_id=request.user.id)
        rate_limit_check(scope="hold", subject=request.user.id, setting="RATE_LIMIT_HOLD")
        params = _hold_input(request.data)
        hold = hold_create(event=event, user_id=request.user.id, **params)
        return Response(hold_data(hold, hold.seats_written), status=status.HTTP_201_CREATED)


class HoldDetailApi(APIView):
    def get(self, request: Request, hold_id: int) -> Response:
        hold = selectors.hold_get_or_404(hold_id=hold_id, user_id=request.user.id)
        return Response(hold_data(hold, selectors.seats_data(seat_ids=hold.seat_ids)))

    def delete(self, request: Request, hold_id: int) -> Response:
        hold_release(hold_id=hold_id, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CheckoutApi(BookingLatencyRecorded):
    """The hold's ownership, the ``Idempotency-Key`` and the token are checked
    by ``checkout`` itself, in the contract's order (404 before 400)."""

    def post(self, request: Request, hold_id: int) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        token = data.get("payment_token")
        key = request.headers.get("Idempotency-Key", "")
        result = checkout(hold_id=hold_id, user_id=request.user.id, payment_token=token, idempotency_key=key)
        if result.tickets is not None:  # a sale just made: answered from what it wrote
            return Response(order_data(result.order, result.tickets), status=status.HTTP_201_CREATED)
        order = selectors.order_get_or_404(order_id=result.order.id, user_id=request.user.id)
        return Response(order_data(order), status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class OrderListApi(APIView):
    def get(self, request: Request) -> Response:
        return Response([order_data(o) for o in selectors.order_list(user_id=request.user.id)])


class OrderDetailApi(APIView):
    def get(self, request: Request, order_id: int) -> Response:
        order = selectors.order_get_or_404(order_id=order_id, user_id=request.user.id)
        return Response(order_data(order))


class TicketListApi(APIView):
    def get(self, request: Request) -> Response:
        return Response([ticket_data(t) for t in selectors.ticket_list(user_id=request.user.id)])
