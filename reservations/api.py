"""Booking HTTP API: thin views over selectors and services."""

from __future__ import annotations

import re
import time
from typing import Any

from django.http import HttpResponse
from django.utils.text import format_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.asgi_handler import RECEIVED_AT
from core.errors import Invalid
from core.openapi import INVALID, NOT_FOUND, RATE_LIMITED, errors
from core.ratelimit import rate_limit_check
from core.responses import accepts_gzip, wire_response
from reservations import seat_status, selectors
from reservations.checkin import may_scan_tickets, ticket_check_in
from reservations.checkout import checkout
from reservations.errors import error_messages
from reservations.gates import admission_check
from reservations.health import booking_latency_record
from reservations.holds import hold_create, hold_release
from reservations.openapi import (
    ALREADY_CHECKED_IN,
    ALREADY_CHECKED_OUT,
    BUSY,
    CANCEL_CLOSED,
    CANCEL_REQUEST_SCHEMA,
    CHECKOUT_IN_PROGRESS,
    HOLD_EXPIRED,
    HOLD_REQUEST_SCHEMA,
    LIMIT_EXCEEDED,
    NOT_ADMITTED,
    NOT_ENOUGH_SEATS,
    ORDER_CHECKED_IN,
    PAYMENT_DECLINED,
    PAYMENT_UNAVAILABLE,
    SALE_CLOSED,
    SALE_NOT_OPEN,
    SALE_PAUSED,
    SEAT_STATUS_SCHEMA,
    SEAT_UNAVAILABLE,
    TICKET_VOID,
    WRONG_EVENT,
    CheckInInputSerializer,
    CheckInSerializer,
    CheckoutInputSerializer,
    EventSerializer,
    HoldSerializer,
    OrderSerializer,
    SeatLayoutSerializer,
    SeatMapSerializer,
    TicketSerializer,
)
from reservations.refunds import order_cancel
from reservations.serializers import event_data, hold_data, order_data, ticket_data


class EventListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["events"], summary="List events", responses={200: EventSerializer(many=True)})
    def get(self, request: Request) -> Response:
        events = list(selectors.event_list())
        counts = selectors.event_seat_counts(event_ids=[e.id for e in events])
        return Response([event_data(e, counts[e.id]) for e in events])


class EventDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["events"], summary="One event", responses={200: EventSerializer})
    @errors(NOT_FOUND)
    def get(self, request: Request, event_id: int) -> Response:
        event = selectors.event_get_or_404(event_id=event_id)
        counts = selectors.event_seat_counts(event_ids=[event.id])
        return Response(event_data(event, counts[event.id]))


#: ``?since=``: a version, digits only (a million-digit number is refused before ``int`` reads it).
SINCE = re.compile(r"[0-9]{1,19}")


def _int_or_none(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(
            format_lazy(_("{name} must be an integer."), name=name), fields={name: [_("Must be an integer.")]}
        )
    return value


def _hold_input(data: Any) -> dict[str, Any]:
    """The hold body's shape: ``seat_ids`` (integers), or ``quantity`` and ``grade``."""
    if not isinstance(data, dict):
        raise Invalid(_("Send a JSON object with seat_ids, or quantity and grade."))
    seat_ids = data.get("seat_ids")
    if seat_ids is not None and (
        not isinstance(seat_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in seat_ids)
    ):
        raise Invalid(
            _("seat_ids must be a list of seat ids."), fields={"seat_ids": [_("Must be a list of integers.")]}
        )
    grade = data.get("grade")
    if grade is not None and not isinstance(grade, str):
        raise Invalid(_("grade must be a string."), fields={"grade": [_("Must be a string.")]})
    return {"seat_ids": seat_ids, "quantity": _int_or_none(data, "quantity"), "grade": grade}


def _since(request: Request) -> int | None:
    raw = request.query_params.get("since")
    if raw is None:
        return None
    if not SINCE.fullmatch(raw):
        raise Invalid(_("since must be a version: a whole number."), fields={"since": [_("Must be a whole number.")]})
    return int(raw)


class SeatLayoutApi(APIView):
    """The layout, for everyone (no login: nothing in it is anyone's), built
    once and cached by shared caches; ``If-None-Match`` with its tag is 304."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["seats"],
        summary="Seat layout (stadium maps)",
        description="Positions, grades and prices in a fixed seat order, never statuses. Shared caches may keep it.",
        parameters=[
            OpenApiParameter(
                "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="A layout's `ETag`."
            )
        ],
        responses={
            200: OpenApiResponse(SeatLayoutSerializer, description="The layout."),
            304: OpenApiResponse(description="`If-None-Match` named the current layout."),
        },
    )
    @errors(NOT_FOUND)
    def get(self, request: Request, event_id: int) -> HttpResponse:
        event = selectors.event_for_booking(event_id=event_id)
        layout = seat_status.layout_get(event_id=event.id)
        return wire_response(
            *seat_status.layout_wire(
                layout,
                if_none_match=request.headers.get("If-None-Match", ""),
                takes_gzip=accepts_gzip(request),
            )
        )


class BookingLatencyRecorded(APIView):
    """Adds each request's duration to the booking path's latency histogram
    (``reservations.health``), which admission follows: holds, checkouts,
    and the seat page's status reads (what an admitted shopper asks first,
    so a slow path shows before the first hold does)."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        scope = getattr(request, "scope", None) or {}  # under ASGI: from the request's arrival in the process
        started = scope.get(RECEIVED_AT, time.perf_counter())
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            booking_latency_record(time.perf_counter() - started)


class SeatStatusApi(BookingLatencyRecorded):
    """Every seat's status as one shared snapshot (admitted shoppers, as the
    seat map); ``?since=`` is 304 or the seats changed since. Token requests
    are answered on the event loop (``reservations.fastpath``), the same way."""

    @extend_schema(
        tags=["seats"],
        summary="Seat statuses (stadium maps)",
        description=(
            "Admitted shoppers only. Without `since`: every seat's status, one character each in layout order. "
            "With `since`: 304 when nothing changed, else the changes or the full form, whichever is shorter "
            "(the full form too for a version the server no longer knows)."
        ),
        parameters=[
            OpenApiParameter(
                "since",
                {"type": "string", "pattern": "^[0-9]{1,19}$"},
                description="A `version` this client holds.",
            )
        ],
        responses={
            200: OpenApiResponse(SEAT_STATUS_SCHEMA, description="The statuses, or the changes since `since`."),
            304: OpenApiResponse(description="Nothing changed since `since`."),
        },
    )
    @errors(NOT_FOUND, NOT_ADMITTED, INVALID)
    def get(self, request: Request, event_id: int) -> HttpResponse:
        event = selectors.event_for_booking(event_id=event_id)
        admission_check(event=event, user_id=request.user.id)
        answer = seat_status.status_answer(event_id=event.id, since=_since(request))
        return wire_response(*seat_status.status_wire(answer, takes_gzip=accepts_gzip(request)))


class SeatMapApi(APIView):
    @extend_schema(
        tags=["seats"],
        summary="Seat map",
        description="Admitted shoppers only. A seat whose hold has lapsed is `available`.",
        responses={200: SeatMapSerializer},
    )
    @errors(NOT_FOUND, NOT_ADMITTED)
    def get(self, request: Request, event_id: int) -> Response:
        event = selectors.event_for_booking(event_id=event_id)
        admission_check(event=event, user_id=request.user.id)
        return Response({"seats": selectors.seat_map(event_id=event.id)})


class HoldCreateApi(BookingLatencyRecorded):
    @extend_schema(
        tags=["holds and checkout"],
        summary="Hold seats",
        description=(
            "Chosen seats, or a quantity of one grade (best available: same section and row, consecutive numbers "
            "where possible). All or nothing: on any error no seat changes. Admitted shoppers only."
        ),
        request={"application/json": HOLD_REQUEST_SCHEMA},
        responses={201: HoldSerializer},
        examples=[
            OpenApiExample("Chosen seats", value={"seat_ids": [1, 2]}, request_only=True),
            OpenApiExample("Best available", value={"quantity": 2, "grade": "R"}, request_only=True),
        ],
    )
    @errors(
        NOT_FOUND,
        NOT_ADMITTED,
        INVALID,
        SALE_NOT_OPEN,
        SALE_PAUSED,
        SALE_CLOSED,
        SEAT_UNAVAILABLE,
        LIMIT_EXCEEDED,
        NOT_ENOUGH_SEATS,
        BUSY,
        RATE_LIMITED,
    )
    def post(self, request: Request, event_id: int) -> Response:
        event = selectors.event_for_booking(event_id=event_id)
        admission_check(event=event, user_id=request.user.id)
        rate_limit_check(scope="hold", subject=request.user.id, setting="RATE_LIMIT_HOLD")
        params = _hold_input(request.data)
        hold = hold_create(event=event, user_id=request.user.id, **params)
        return Response(hold_data(hold, hold.seats_written), status=status.HTTP_201_CREATED)


class HoldDetailApi(APIView):
    @extend_schema(
        tags=["holds and checkout"],
        summary="One hold",
        description="The person's own hold; another person's is 404.",
        responses={200: HoldSerializer},
    )
    @errors(NOT_FOUND)
    def get(self, request: Request, hold_id: int) -> Response:
        hold = selectors.hold_get_or_404(hold_id=hold_id, user_id=request.user.id)
        return Response(hold_data(hold, selectors.seats_data(seat_ids=hold.seat_ids)))

    @extend_schema(
        tags=["holds and checkout"],
        summary="Release a hold",
        description="Its seats go back on sale. An expired or released hold: 204, nothing changes.",
        responses={204: OpenApiResponse(description="Released.")},
    )
    @errors(NOT_FOUND, ALREADY_CHECKED_OUT, CHECKOUT_IN_PROGRESS, BUSY)
    def delete(self, request: Request, hold_id: int) -> Response:
        hold_release(hold_id=hold_id, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CheckoutApi(BookingLatencyRecorded):
    """The hold's ownership, the ``Idempotency-Key`` and the token are checked
    by ``checkout`` itself, in the contract's order (404 before 400)."""

    @extend_schema(
        tags=["holds and checkout"],
        summary="Pay for a hold",
        description=(
            "Replaying an `Idempotency-Key` answers the same order with 200 and charges nothing twice; a replay "
            "while the first request runs is 409 `checkout_in_progress` with `Retry-After`. A declined card "
            "(402) or a gateway that does not answer (502) sells and charges nothing; the hold stays active."
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": 255},
                OpenApiParameter.HEADER,
                required=True,
                description="Any string the client chooses per purchase.",
            )
        ],
        request=CheckoutInputSerializer,
        examples=[OpenApiExample("Test card", value={"payment_token": "tok_ok"}, request_only=True)],
        responses={
            200: OpenApiResponse(OrderSerializer, description="A replay of this key: the order it made."),
            201: OpenApiResponse(OrderSerializer, description="Paid: the order with its tickets."),
        },
    )
    @errors(
        NOT_FOUND,
        INVALID,
        PAYMENT_DECLINED,
        ALREADY_CHECKED_OUT,
        CHECKOUT_IN_PROGRESS,
        BUSY,
        HOLD_EXPIRED,
        PAYMENT_UNAVAILABLE,
    )
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
    @extend_schema(tags=["orders and tickets"], summary="My orders", responses={200: OrderSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([order_data(o) for o in selectors.order_list(user_id=request.user.id)])


class OrderDetailApi(APIView):
    @extend_schema(
        tags=["orders and tickets"],
        summary="One order",
        description="The person's own order; another person's is 404.",
        responses={200: OrderSerializer},
    )
    @errors(NOT_FOUND)
    def get(self, request: Request, order_id: int) -> Response:
        order = selectors.order_get_or_404(order_id=order_id, user_id=request.user.id)
        return Response(order_data(order))


class TicketListApi(APIView):
    @extend_schema(tags=["orders and tickets"], summary="My tickets", responses={200: TicketSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([ticket_data(t) for t in selectors.ticket_list(user_id=request.user.id)])


class OrderCancelApi(APIView):
    """The buyer cancels a whole order (``reservations.refunds.order_cancel``):
    the order as it is now, refunded, or 404 / 409."""

    @extend_schema(
        tags=["orders and tickets"],
        summary="Cancel an order",
        description=(
            "The buyer's own order, whole, until its event's `cancel_until` (none: no cancellation): its tickets "
            "turn `void`, its seats go back on sale and the payment is refunded through the gateway (`refunds`; "
            "`pending` until the gateway has taken it). Cancelling it again answers 200 and changes nothing."
        ),
        request={"application/json": CANCEL_REQUEST_SCHEMA},
        responses={200: OpenApiResponse(OrderSerializer, description="The order, `refunded`.")},
    )
    @errors(NOT_FOUND, INVALID, CANCEL_CLOSED, ORDER_CHECKED_IN, BUSY)
    def post(self, request: Request, order_id: int) -> Response:
        selectors.order_get_or_404(order_id=order_id, user_id=request.user.id)  # the contract's order: 404 before 400
        if not isinstance(request.data, dict):  # read first: a malformed or oversized body changes nothing
            raise Invalid(error_messages["cancel_body"])
        order_cancel(order_id=order_id, user_id=request.user.id)
        return Response(order_data(selectors.order_get_or_404(order_id=order_id, user_id=request.user.id)))


class ScansTickets(BasePermission):
    """403 ``forbidden`` for anyone but door staff (``may_scan_tickets``)."""

    message = error_messages["scan_forbidden"]
    code = "forbidden"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return may_scan_tickets(request.user)


class CheckInApi(APIView):
    """Door staff scan a ticket (``reservations.checkin.ticket_check_in``)."""

    permission_classes = [IsAuthenticated, ScansTickets]

    @extend_schema(
        tags=["door"],
        summary="Check a ticket in",
        description=(
            "Door staff: staff members, or people with the permission `reservations.scan_ticket`. A ticket admits "
            "once: a second scan is 409 `already_checked_in` with the first scan's time. Refusals carry the "
            "ticket's seat for the door's screen."
        ),
        request=CheckInInputSerializer,
        examples=[OpenApiExample("A scanned code", value={"code": "q0E3vV1nT2w8cM4kXb9aZw"}, request_only=True)],
        responses={200: CheckInSerializer},
    )
    @errors(NOT_FOUND, INVALID, ALREADY_CHECKED_IN, TICKET_VOID, WRONG_EVENT, BUSY)
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        result = ticket_check_in(code=data.get("code"), event_id=data.get("event"), by_user_id=request.user.id)
        return Response(
            {
                "result": "checked_in",
                "ticket": ticket_data(result.ticket),
                "checked_in_at": result.checked_in_at.isoformat(),
            }
        )


class PdfRenderer(BaseRenderer):
    """Lets ``Accept: application/pdf`` through content negotiation; the view writes the bytes."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        return data


class TicketPdfApi(APIView):
    """One of the person's tickets as a PDF, in the request's language; 404
    for anyone else's ticket, as for none; 429 past ``RATE_LIMIT_PDF`` (a
    PDF costs about 50 ms of CPU). Errors are the contract's JSON whatever
    ``Accept`` asked for."""

    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=["orders and tickets"],
        summary="A ticket as PDF",
        description=(
            "One A4 page in the request's language: event, venue, date in the event's time zone, seat, grade, "
            "price and the QR code (a void ticket prints marked void, without it). The person's own ticket only. "
            "Errors are JSON whatever `Accept` asks for."
        ),
        parameters=[
            # DRF's ``?format=`` override (the two renderers give it two values) is no part of the contract.
            OpenApiParameter("format", exclude=True),
            OpenApiParameter(
                "Content-Disposition",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                response=[200],
                description='`attachment; filename="ticket-{ticket_id}.pdf"`',
            ),
        ],
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The ticket.")},
    )
    @errors(NOT_FOUND, RATE_LIMITED)
    def get(self, request: Request, ticket_id: int) -> HttpResponse:
        ticket = selectors.ticket_get_or_404(ticket_id=ticket_id, user_id=request.user.id)
        rate_limit_check(scope="ticket_pdf", subject=request.user.id, setting="RATE_LIMIT_PDF")
        # Imported here: fpdf2 (and its fontTools) took 0.7 s of every web
        # worker's start for a page a buyer asks for once, after the sale.
        from reservations.ticket_pdf import ticket_pdf

        response = HttpResponse(ticket_pdf(ticket=ticket, language=get_language()), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="ticket-{ticket.id}.pdf"'
        response["Cache-Control"] = "private, no-store"  # a ticket can be voided: never serve an old copy
        return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return response
