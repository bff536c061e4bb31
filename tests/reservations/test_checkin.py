"""Check-in at the door: POST /api/checkin/ admits a ticket once, for door
staff only, and refuses bad, unknown, used, void and foreign tickets with the
contract's 4xx and no change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Event, Order, Ticket
from reservations.refunds import order_refund
from reservations.services import event_create
from tests.reservations.conftest import client_for, seat_ids

pytestmark = pytest.mark.django_db

CHECKIN = "/api/checkin/"


def buy(event: Event, user: Any, count: int = 2, key: str = "k") -> Order:
    taken = set(Ticket.objects.filter(event=event).values_list("seat_id", flat=True))
    free = [i for i in seat_ids(event) if i not in taken][:count]
    hold = hold_create(event=event, user_id=user.id, seat_ids=free)
    return checkout(hold_id=hold.id, user_id=user.id, payment_token="tok_ok", idempotency_key=key).order


@pytest.fixture
def order(event: Event, user: Any) -> Order:
    return buy(event, user)


@pytest.fixture
def door_user(make_user: Any) -> Any:
    staff = make_user("gate1")
    staff.is_staff = True
    staff.save()
    return staff


@pytest.fixture
def door(door_user: Any) -> APIClient:
    return client_for(door_user)


def _tickets(order: Order) -> list[tuple]:
    return list(order.tickets.order_by("id").values_list("id", "status", "checked_in_at", "checked_in_by_id"))


def _error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["error"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


def test_a_scan_admits_once_and_records_who_and_when(order, door, door_user):
    ticket = order.tickets.order_by("id").first()

    first = door.post(CHECKIN, {"code": ticket.code}, format="json")

    assert first.status_code == 200, first.content
    body = first.json()
    assert body["result"] == "checked_in"
    assert body["ticket"]["id"] == ticket.id and body["ticket"]["status"] == "checked_in"
    assert body["ticket"]["seat"]["id"] == ticket.seat_id
    ticket.refresh_from_db()
    assert ticket.status == "checked_in" and ticket.checked_in_by_id == door_user.id
    assert ticket.checked_in_at.isoformat() == body["checked_in_at"] == body["ticket"]["checked_in_at"]

    again = _error(door.post(CHECKIN, {"code": f"  {ticket.code}\n"}, format="json"), 409, "already_checked_in")
    assert again["checked_in_at"] == body["checked_in_at"]  # the first scan's time
    assert again["checked_in_by"] == "gate1"
    ticket.refresh_from_db()
    assert ticket.checked_in_at.isoformat() == body["checked_in_at"]
    other = order.tickets.exclude(pk=ticket.pk).get()
    assert other.status == "valid"  # the order's other ticket still admits its holder


def test_only_door_staff_may_scan(order, auth_client, make_user, api_client):
    code = order.tickets.first().code
    # The buyer, even for their own ticket; an unknown code answers the same (no oracle for codes).
    _error(auth_client.post(CHECKIN, {"code": code}, format="json"), 403, "forbidden")
    _error(auth_client.post(CHECKIN, {"code": "x" * 22}, format="json"), 403, "forbidden")
    assert api_client.post(CHECKIN, {"code": code}, format="json").status_code == 401
    assert not order.tickets.filter(status="checked_in").exists()

    permission = Permission.objects.get(codename="scan_ticket", content_type__app_label="reservations")
    scanner = make_user("scanner")
    scanner.user_permissions.add(permission)
    assert client_for(scanner).post(CHECKIN, {"code": code}, format="json").status_code == 200

    volunteers = Group.objects.create(name="Door volunteers")
    volunteers.permissions.add(permission)
    volunteer = make_user("volunteer")
    volunteer.groups.add(volunteers)
    second = order.tickets.exclude(code=code).get().code
    assert client_for(volunteer).post(CHECKIN, {"code": second}, format="json").status_code == 200


def test_a_void_ticket_admits_nobody(order, door):
    order_refund(order_id=order.id)
    ticket = order.tickets.first()

    _error(door.post(CHECKIN, {"code": ticket.code}, format="json"), 409, "ticket_void")

    ticket.refresh_from_db()
    assert ticket.status == "void" and ticket.checked_in_at is None


def test_a_ticket_of_another_event_is_refused_at_this_door(order, door, event):
    other = event_create(name="Other", venue_name="Hall", sections="A:1x2:R:100", queue_enabled=False)
    ticket = order.tickets.first()

    body = _error(door.post(CHECKIN, {"code": ticket.code, "event": other.id}, format="json"), 409, "wrong_event")

    assert body["ticket_event"] == event.id and body["ticket_event_name"] == event.name
    assert Ticket.objects.get(pk=ticket.pk).status == "valid"
    assert door.post(CHECKIN, {"code": ticket.code, "event": event.id}, format="json").status_code == 200


def test_an_unknown_code_is_404(order, door):
    _error(door.post(CHECKIN, {"code": "A" * 22}, format="json"), 404, "not_found")
    assert set(order.tickets.values_list("status", flat=True)) == {"valid"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": None},
        {"code": 12345678901234567890},
        {"code": ["abcdefghijklmnopqrstuv"]},
        {"code": {"$ne": ""}},
        {"code": True},
        {"code": ""},
        {"code": "short"},
        {"code": "x" * 65},
        {"code": "A" * 100_000},
        {"code": "é" * 22},
        {"code": "abc def ghi jkl mnop q"},
        {"code": "https://example.com/t/abcdefghijklmnopqrstuv"},
        {"code": "\u0000" * 22},
        {"code": "\ud800" * 22},
        {"code": "abcdefghijklmnopqrstu%"},
        {"code": "VALID", "event": "1"},
        {"code": "VALID", "event": 2**63},
        {"code": "VALID", "event": -1},
        {"code": "VALID", "event": True},
        {"code": "VALID", "event": 1.5},
        [{"code": "VALID"}],
        "VALID",
    ],
)
def test_bad_input_is_400_and_changes_nothing(order, door, body):
    code = order.tickets.first().code
    if isinstance(body, dict) and body.get("code") == "VALID":
        body = {**body, "code": code}
    elif body == [{"code": "VALID"}]:
        body = [{"code": code}]
    elif body == "VALID":
        body = code
    before = _tickets(order)

    response = door.post(CHECKIN, json.dumps(body), content_type="application/json")

    _error(response, 400, "invalid")
    assert _tickets(order) == before


def test_a_body_past_the_upload_limit_is_413(order, door):
    before = _tickets(order)
    code = "A" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    response = door.post(CHECKIN, '{"code": "' + code + '"}', content_type="application/json")
    _error(response, 413, "too_large")
    assert _tickets(order) == before


def test_a_checked_in_ticket_still_counts_against_the_per_person_limit(event, user, door):
    three = buy(event, user, count=3)  # the event's limit
    door.post(CHECKIN, {"code": three.tickets.first().code}, format="json")

    response = client_for(user).post(f"/api/events/{event.id}/holds/", {"quantity": 1, "grade": "S"}, format="json")

    _error(response, 409, "limit_exceeded")


def test_the_ticket_list_shows_the_check_in(order, door, auth_client):
    code = order.tickets.order_by("id").first().code
    door.post(CHECKIN, {"code": code}, format="json")
    tickets = {t["code"]: t for t in auth_client.get("/api/tickets/").json()}
    assert tickets[code]["status"] == "checked_in" and tickets[code]["checked_in_at"]
    assert [t["status"] for c, t in tickets.items() if c != code] == ["valid"]
