"""The organizer's admin: every page loads for a staff user, and the event
form's seat-map spec generates a whole seat map (or refuses a bad spec)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.services import token_issue
from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Event, Hold, PriceGrade, Seat, Venue
from reservations.refunds import order_refund
from reservations.services import event_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser(username="organizer", password="pw-Secret-123")
    client.force_login(user)
    return client


@pytest.fixture
def one_of_everything(make_user, django_capture_on_commit_callbacks):
    """An event, a live hold, a paid order and a refunded one (so orders,
    tickets, payments, refunds and confirmations have a row each to open)."""
    event = event_create(name="Show", venue_name="Arena", sections="A:2x3:R:1000,B:1x2:S:500", queue_enabled=False)
    shopper = make_user("shopper")
    hold = Hold.objects.create(event=event, user=shopper, expires_at=timezone.now() + timedelta(minutes=5))
    buyer = make_user("buyer")
    seat = Seat.objects.filter(event=event, section="B").order_by("id").first()
    paid = hold_create(event=event, user_id=buyer.id, seat_ids=[seat.id])
    with django_capture_on_commit_callbacks(execute=True):
        checkout(hold_id=paid.id, user_id=buyer.id, payment_token="tok_ok", idempotency_key="admin-fixture")
    refunded = hold_create(
        event=event, user_id=buyer.id, seat_ids=[Seat.objects.filter(event=event, section="A").first().id]
    )
    with django_capture_on_commit_callbacks(execute=True):
        order = checkout(
            hold_id=refunded.id, user_id=buyer.id, payment_token="tok_ok", idempotency_key="refunded"
        ).order
        order_refund(order_id=order.id)  # a refund to open too
    token_issue(user=shopper)
    Group.objects.create(name="Organizers")
    return event, hold


def test_every_registered_model_has_working_changelist_add_and_change_pages(staff_client, one_of_everything):
    assert {Venue, Event, PriceGrade, Seat, Hold} <= set(admin.site._registry)
    for model, model_admin in admin.site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        changelist = staff_client.get(reverse(f"{name}_changelist"))
        assert changelist.status_code == 200, model
        if model_admin.has_add_permission(changelist.wsgi_request):
            assert staff_client.get(reverse(f"{name}_add")).status_code == 200, model
        obj = model._default_manager.first()
        assert obj is not None, f"no {model.__name__} to open"
        assert staff_client.get(reverse(f"{name}_change", args=[obj.pk])).status_code == 200, model


def test_admin_index_lists_the_booking_models(staff_client):
    response = staff_client.get("/admin/")

    assert response.status_code == 200
    for name in (b"Events", b"Venues", b"Seats", b"Price grades", b"Holds"):
        assert name in response.content


def test_seats_changelist_filters_by_event_section_grade_and_status(staff_client, one_of_everything):
    event, _ = one_of_everything
    url = reverse("admin:reservations_seat_changelist")

    response = staff_client.get(
        url, {"event__id__exact": event.id, "section": "A", "grade__code": "R", "status": "available"}
    )

    assert response.status_code == 200
    assert response.context["cl"].result_count == 6


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(reverse("admin:reservations_event_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def event_form(venue: Venue, **overrides: str) -> dict[str, str]:
    now = timezone.now()
    data = {
        "name": "Admin Made",
        "venue": str(venue.pk),
        "starts_at_0": (now + timedelta(days=30)).strftime("%Y-%m-%d"),
        "starts_at_1": "20:00:00",
        "currency": "KRW",
        "sale_opens_at_0": now.strftime("%Y-%m-%d"),
        "sale_opens_at_1": "00:00:00",
        "sale_closes_at_0": "",
        "sale_closes_at_1": "",
        "status": "on_sale",
        "max_tickets_per_user": "3",
        "hold_seconds": "420",
        "queue_enabled": "on",
        "admission_batch_size": "50",
        "admission_interval_seconds": "2",
        "admission_cap": "500",
        "admission_seconds": "600",
        "arrival_seconds": "60",
        "challenge_bits": "0",
        "seat_map_spec": "",
        "price_grades-TOTAL_FORMS": "0",
        "price_grades-INITIAL_FORMS": "0",
        "price_grades-MIN_NUM_FORMS": "0",
        "price_grades-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_event_add_form_generates_the_seat_map_from_the_spec(staff_client):
    venue = Venue.objects.create(name="Arena")

    response = staff_client.post(
        reverse("admin:reservations_event_add"),
        event_form(venue, seat_map_spec="A:10x20:R:150000,B:5x10:S:90000"),
        follow=True,
    )

    assert response.status_code == 200
    event = Event.objects.get(name="Admin Made")
    assert event.seats.count() == 250
    assert dict(event.price_grades.values_list("code", "price")) == {"R": 150000, "S": 90000}
    assert (event.admission_batch_size, event.admission_cap) == (50, 500)
    assert "Generated 250 seats." in [str(m) for m in response.context["messages"]]


def test_event_change_form_adds_sections_to_an_existing_map(staff_client):
    event = event_create(name="Show", venue_name="Arena", sections="A:1x2:R:1000")
    grade = event.price_grades.get()
    data = event_form(
        event.venue,
        name="Show",
        seat_map_spec="B:2x2:R:1000",
        **{
            "price_grades-TOTAL_FORMS": "1",
            "price_grades-INITIAL_FORMS": "1",
            "price_grades-0-id": str(grade.pk),
            "price_grades-0-event": str(event.pk),
            "price_grades-0-code": "R",
            "price_grades-0-price": "1000",
        },
    )

    response = staff_client.post(reverse("admin:reservations_event_change", args=[event.pk]), data)

    assert response.status_code == 302
    assert event.seats.count() == 6
    assert set(event.seats.values_list("section", flat=True)) == {"A", "B"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [("A:10x20:R", "expected NAME:ROWSxSEATS:GRADE:PRICE"), ("A:1x1:R:5,B:1x1:R:6", "two prices")],
)
def test_a_bad_spec_shows_a_form_error_and_creates_nothing(staff_client, spec, message):
    venue = Venue.objects.create(name="Arena")

    response = staff_client.post(reverse("admin:reservations_event_add"), event_form(venue, seat_map_spec=spec))

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["seat_map_spec"])
    assert not Event.objects.exists()
    assert not Seat.objects.exists()
    assert not PriceGrade.objects.exists()
