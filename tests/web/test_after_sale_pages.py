"""Server side of the after-sale pages: who may open the door scanner, the
QR code of a used ticket, the cancel link My tickets is given."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from reservations.checkin import ticket_check_in
from reservations.models import Event
from reservations.services import event_create
from tests.reservations.test_checkin import buy

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> Event:
    return event_create(name="Door Night", venue_name="Hall", sections="A:2x5:R:1000", queue_enabled=False)


def test_the_door_scanner_is_for_staff_and_scanners_only(client: Client, make_user: Any, event: Event) -> None:
    assert client.get("/door/").status_code == 302  # to the login page
    fan = make_user("fan")
    client.force_login(fan)
    assert client.get("/door/").status_code == 403
    assert b"Door scanner" not in client.get("/tickets/").content
    fan.user_permissions.add(Permission.objects.get(codename="scan_ticket"))
    page = client.get("/door/")
    assert page.status_code == 200
    assert f'<option value="{event.id}">'.encode() in page.content
    assert b"/static/web/vendor/jsqr/jsQR.js" in page.content
    assert b"Door scanner" in client.get("/tickets/").content


def test_a_checked_in_ticket_keeps_its_qr_code_and_my_tickets_can_cancel(
    client: Client, user: Any, event: Event, make_user: Any
) -> None:
    order = buy(event, user, count=1)
    code = order.tickets.get().code
    ticket_check_in(code=code, by_user_id=make_user("gate").id)
    client.force_login(user)
    assert client.get(f"/tickets/{code}/qr.svg").status_code == 200
    assert b'"cancel_url": "/api/orders/{id}/cancel/"' in client.get("/tickets/").content
