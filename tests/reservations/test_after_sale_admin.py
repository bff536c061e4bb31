"""After the sale in the organizer's admin and commands: the event's
cancellation deadline, single tickets refunded, refunds tried again, the
door's live check-in figures, and ``create_event --cancel-hours``."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.redis import get_redis
from reservations.checkin import ticket_check_in
from reservations.models import Event, Order, Payment, Refund, Seat, Ticket
from reservations.payments import TestGateway
from tests.reservations.test_checkin import buy

pytestmark = pytest.mark.django_db


@pytest.fixture
def organizer(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    client.force_login(admin)
    return admin


def test_the_event_form_has_the_cancellation_deadline(client, organizer, event):
    page = client.get(reverse("admin:reservations_event_change", args=[event.id]))
    assert page.status_code == 200 and b'name="cancel_until_0"' in page.content


def test_single_tickets_are_refunded_from_the_ticket_list(client, organizer, event, user):
    order = buy(event, user, count=3)
    first, second, third = order.tickets.order_by("id")
    ticket_check_in(code=third.code, by_user_id=organizer.id)
    listing = client.get(reverse("admin:reservations_ticket_changelist"), {"q": first.code})
    assert listing.status_code == 200 and listing.context["cl"].result_count == 1

    response = client.post(
        reverse("admin:reservations_ticket_changelist"),
        {"action": "refund_tickets", "_selected_action": [first.id, third.id]},
        follow=True,
    )

    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert any("Refunded 1 ticket(s)" in m for m in said) and any("already checked in" in m for m in said)
    statuses = dict(Ticket.objects.filter(order=order).values_list("id", "status"))
    assert statuses == {first.id: "void", second.id: "valid", third.id: "checked_in"}
    assert Seat.objects.get(pk=first.seat_id).status == "available"
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.requested_by_id, refund.status) == (
        first.price,
        "organizer",
        organizer.id,
        "refunded",
    )
    assert Order.objects.get(pk=order.pk).status == "paid"
    page = client.get(reverse("admin:reservations_order_change", args=[order.id]))
    assert page.status_code == 200 and b"organizer" in page.content


def test_a_refund_the_gateway_refused_is_tried_again_by_an_action(client, organizer, event, user):
    order = buy(event, user)
    get_redis().sadd(TestGateway.OUTAGE_KEY, "refund")
    response = client.post(
        reverse("admin:reservations_order_changelist"),
        {"action": "refund_orders", "_selected_action": [order.id]},
        follow=True,
    )
    assert any("retried automatically" in str(m) for m in response.context["messages"])
    refund = Refund.objects.get()
    assert refund.status == "pending" and Payment.objects.get(order=order).status == "refunding"

    get_redis().delete(TestGateway.OUTAGE_KEY)
    response = client.post(
        reverse("admin:reservations_refund_changelist"),
        {"action": "retry_refunds", "_selected_action": [refund.id]},
        follow=True,
    )

    assert any("took 1 of 1" in str(m) for m in response.context["messages"])
    assert Refund.objects.get().status == "refunded" and Payment.objects.get(order=order).status == "refunded"


def test_the_door_figures_count_check_ins_per_event(client, organizer, event, user, make_event):
    order = buy(event, user, count=3)
    codes = list(order.tickets.order_by("id").values_list("code", flat=True))
    for code in codes[:2]:
        ticket_check_in(code=code, by_user_id=organizer.id)
    quiet = make_event()
    changelist = client.get(reverse("admin:reservations_event_changelist"))
    assert changelist.status_code == 200
    assert b"2 of 3" in changelist.content and reverse("admin:reservations_event_door").encode() in changelist.content

    page = client.get(reverse("admin:reservations_event_door"))
    assert page.status_code == 200 and event.name.encode() in page.content
    figures = client.get(reverse("admin:reservations_event_door_figures")).json()["events"]
    by_event = {row["id"]: row for row in figures}
    assert (by_event[event.id]["checked_in"], by_event[event.id]["admitting"]) == (2, 3)
    assert by_event[event.id]["last_scan"] is not None
    assert (by_event[quiet.id]["checked_in"], by_event[quiet.id]["admitting"]) == (0, 0)

    staff = get_user_model().objects.create_user("helper", password="pw-Secret-123", is_staff=True)
    client.force_login(staff)  # staff without the right to view events
    assert client.get(reverse("admin:reservations_event_door_figures")).status_code == 403


def test_create_event_cancel_hours_sets_the_deadline_before_the_start():
    out = StringIO()
    call_command(
        "create_event", "--name", "Cancellable", "--sections", "A:1x5:R:100", "--cancel-hours", "48", stdout=out
    )
    event = Event.objects.get(pk=json.loads(out.getvalue().strip().splitlines()[-1])["id"])
    assert event.starts_at - event.cancel_until == timedelta(hours=48)
    out = StringIO()
    call_command("create_event", "--name", "Final", "--sections", "A:1x5:R:100", stdout=out)
    assert Event.objects.get(pk=json.loads(out.getvalue().strip().splitlines()[-1])["id"]).cancel_until is None


@pytest.mark.parametrize("hours", ["-1", "nan", "inf", "100000"])
def test_create_event_refuses_a_bad_cancel_hours(hours):
    with pytest.raises(CommandError, match="--cancel-hours"):
        call_command("create_event", "--name", "Bad", "--sections", "A:1x5:R:100", "--cancel-hours", hours)
    assert not Event.objects.exists()
