"""The booking API's shapes and errors for the OpenAPI description (``core.openapi``).

The serializers here describe what ``reservations.serializers`` writes (the
views and the fast path answer with those plain dicts, for speed); they are
read by the schema generator only. The live contract test holds the two
together: it checks every answer against these shapes with no field left
undescribed (``tests/api/test_contract.py``).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.openapi import DATE_TIME, INTEGER, STRING, ErrorDoc
from reservations.checkin import TICKET_CODE
from reservations.errors import error_messages
from reservations.locking import Busy
from reservations.models import Event, Hold, Order, Refund, Seat, Ticket


def choice(values: list[str], **kwargs: Any) -> serializers.ChoiceField:
    """A string among ``values`` (described inline: no enum component to name)."""
    return serializers.ChoiceField(choices=list(values), **kwargs)


class PriceTierSerializer(serializers.Serializer):
    grade = serializers.CharField()
    price = serializers.IntegerField(help_text="Minor units of the event's currency.")
    available = serializers.IntegerField()


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    venue = serializers.CharField()
    starts_at = serializers.DateTimeField()
    sale_opens_at = serializers.DateTimeField()
    sale_closes_at = serializers.DateTimeField(allow_null=True)
    prequeue_opens_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the pre-queue opens (its draw places entries at the sale's opening); null: none.",
    )
    status = choice(Event.PublicStatus.values)
    queue_enabled = serializers.BooleanField(help_text="false: every signed-in person is admitted at once.")
    max_tickets_per_user = serializers.IntegerField()
    hold_seconds = serializers.IntegerField()
    admission_seconds = serializers.IntegerField()
    cancel_until = serializers.DateTimeField(
        allow_null=True, help_text="Buyers may cancel their orders until then; null: no cancellation."
    )
    currency = serializers.CharField()
    price_tiers = PriceTierSerializer(many=True)
    seats_total = serializers.IntegerField()
    seats_available = serializers.IntegerField()


class LayoutSeatSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    section = serializers.CharField()
    row = serializers.CharField()
    number = serializers.IntegerField()
    grade = serializers.CharField()
    price = serializers.IntegerField()


class SeatSerializer(LayoutSeatSerializer):
    status = choice(Seat.Status.values, help_text="A seat whose hold has lapsed reads `available`.")


class SeatMapSerializer(serializers.Serializer):
    seats = SeatSerializer(many=True)


class SeatLayoutSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    seats = LayoutSeatSerializer(many=True, help_text="In the fixed order `statuses` follows.")


#: ``seats/status/``: the full form or, after ``?since=``, the changes (whichever is shorter).
SEAT_STATUS_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "title": "Full",
            "required": ["version", "statuses"],
            "additionalProperties": False,
            "properties": {
                "version": INTEGER,
                "statuses": {
                    "type": "string",
                    "pattern": "^[ahs]*$",
                    "description": "One character per seat in layout order: `a` available, `h` held, `s` sold.",
                },
            },
        },
        {
            "type": "object",
            "title": "Changes",
            "required": ["version", "changes"],
            "additionalProperties": False,
            "properties": {
                "version": INTEGER,
                "changes": {
                    "type": "array",
                    "description": "`[seat_id, status]` for every seat whose status differs from `since`.",
                    "items": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 2,
                        "items": {"oneOf": [INTEGER, {"type": "string", "enum": Seat.Status.values}]},
                    },
                },
            },
        },
    ]
}


class HoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.IntegerField()
    seats = SeatSerializer(many=True)
    total = serializers.IntegerField()
    currency = serializers.CharField()
    expires_at = serializers.DateTimeField()
    status = choice(Hold.Status.values)
    created_at = serializers.DateTimeField()


#: The hold body: chosen seats, or a quantity of a grade (best available).
HOLD_REQUEST_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "title": "Chosen seats",
            "required": ["seat_ids"],
            "properties": {"seat_ids": {"type": "array", "minItems": 1, "uniqueItems": True, "items": INTEGER}},
        },
        {
            "type": "object",
            "title": "Best available",
            "required": ["quantity", "grade"],
            "properties": {
                "quantity": {"type": "integer", "minimum": 1, "description": "Adjacent where possible."},
                "grade": {"type": "string"},
            },
        },
    ]
}


class TicketSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text="Unguessable, URL-safe: what the QR code carries.")
    event = serializers.IntegerField()
    order = serializers.IntegerField()
    status = choice(Ticket.Status.values, help_text="`valid`, then `checked_in` at the door or `void` when given back.")
    checked_in_at = serializers.DateTimeField(allow_null=True)
    price = serializers.IntegerField()
    seat = SeatSerializer()


class RefundSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.IntegerField(help_text="Minor units of `currency`.")
    currency = serializers.CharField()
    status = choice(Refund.Status.values, help_text="`pending` until the gateway has taken it (retried until then).")
    reason = choice(Refund.Reason.values, help_text="Cancelled by the buyer, or refunded by the organizer.")
    created_at = serializers.DateTimeField()
    refunded_at = serializers.DateTimeField(allow_null=True)


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.IntegerField()
    hold = serializers.IntegerField()
    status = choice(Order.Status.values, help_text="`refunded` once every ticket of it is given back.")
    total = serializers.IntegerField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    tickets = TicketSerializer(many=True)
    refunds = RefundSerializer(many=True, help_text="Money given back, oldest first.")


#: The cancellation's body: nothing, or a JSON object (its fields are not read).
CANCEL_REQUEST_SCHEMA = {"type": "object", "description": "Nothing, or an empty JSON object."}


class CheckInInputSerializer(serializers.Serializer):
    code = serializers.RegexField(
        f"^{TICKET_CODE.pattern}$",
        help_text="The ticket's code, as its QR code carries it; blanks around it are ignored.",
    )
    event = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The door's event: a ticket of another event is refused (409 `wrong_event`) and stays valid.",
    )


class CheckInSerializer(serializers.Serializer):
    result = choice(["checked_in"])
    ticket = TicketSerializer()
    checked_in_at = serializers.DateTimeField()


class CheckoutInputSerializer(serializers.Serializer):
    payment_token = serializers.CharField(
        help_text="The test gateway takes `tok_ok`, `tok_declined`, `tok_timeout`, `tok_slow`, `tok_capture_slow`."
    )


def _booking(status: int, code: str, **samples: Any) -> ErrorDoc:
    """A booking error from its catalogue entry (``reservations.errors``)."""
    return ErrorDoc(status, code, error_messages[code].format(**samples), sample=samples)


#: The admission gate's refusal (the queue's ``NotAdmitted``; booking names the code, not the queue).
NOT_ADMITTED = ErrorDoc(403, "not_admitted", "You have not been admitted to this event's sale; join the queue first.")
SALE_NOT_OPEN = ErrorDoc(
    409,
    "sale_not_open",
    error_messages["sale_not_open"],
    {"opens_at": DATE_TIME},
    {"opens_at": "2030-01-01T10:00:00+00:00"},
)
SALE_PAUSED = _booking(409, "sale_paused")
SALE_CLOSED = _booking(409, "sale_closed")
SOLD_OUT = _booking(409, "sold_out")
SEAT_UNAVAILABLE = ErrorDoc(
    409,
    "seat_unavailable",
    error_messages["seat_unavailable"],
    {"seat_ids": {"type": "array", "items": INTEGER, "description": "The seats already taken."}},
    {"seat_ids": [12, 13]},
)
LIMIT_EXCEEDED = ErrorDoc(
    409, "limit_exceeded", error_messages["limit_exceeded"].format(limit=4), {"limit": INTEGER}, {"limit": 4}
)
NOT_ENOUGH_SEATS = _booking(409, "not_enough_seats")
ALREADY_CHECKED_OUT = _booking(409, "already_checked_out")
CHECKOUT_IN_PROGRESS = ErrorDoc(409, "checkout_in_progress", error_messages["checkout_in_progress"], retry_after=True)
BUSY = ErrorDoc(409, Busy().code, Busy().detail, retry_after=True)
HOLD_EXPIRED = _booking(410, "hold_expired")
PAYMENT_DECLINED = _booking(402, "payment_declined")
PAYMENT_UNAVAILABLE = _booking(502, "payment_unavailable")

#: The ticket's seat, as check-in refusals carry it for the door's screen:
#: ``SeatSerializer``'s component (the check-in's own 200 puts it in the description).
SEAT_REF = {"$ref": "#/components/schemas/Seat"}
SEAT_SAMPLE = {"id": 12, "section": "A", "row": "1", "number": 3, "grade": "R", "price": 150000, "status": "sold"}
CHECKED_IN_AT_SAMPLE = "2030-01-01T19:02:11+00:00"
ALREADY_CHECKED_IN = ErrorDoc(
    409,
    "already_checked_in",
    error_messages["already_checked_in"],
    {
        "checked_in_at": DATE_TIME,
        "checked_in_by": {"type": "string", "nullable": True, "description": "Who scanned it first (username)."},
        "seat": SEAT_REF,
    },
    {"checked_in_at": CHECKED_IN_AT_SAMPLE, "checked_in_by": "gate-1", "seat": SEAT_SAMPLE},
)
TICKET_VOID = ErrorDoc(409, "ticket_void", error_messages["ticket_void"], {"seat": SEAT_REF}, {"seat": SEAT_SAMPLE})
WRONG_EVENT = ErrorDoc(
    409,
    "wrong_event",
    error_messages["wrong_event"],
    {"ticket_event": INTEGER, "ticket_event_name": STRING, "seat": SEAT_REF},
    {"ticket_event": 7, "ticket_event_name": "Stadium Night", "seat": SEAT_SAMPLE},
)
#: A cancellation of an order one of whose tickets was used.
ORDER_CHECKED_IN = ErrorDoc(
    409,
    "already_checked_in",
    error_messages["order_checked_in"],
    {"checked_in_at": DATE_TIME},
    {"checked_in_at": CHECKED_IN_AT_SAMPLE},
)
CANCEL_CLOSED = _booking(409, "cancel_closed")
