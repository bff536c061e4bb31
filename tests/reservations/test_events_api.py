"""The public events API: every contract field, derived counts, error shapes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reservations.models import Event, Hold, Seat
from reservations.services import event_create

pytestmark = pytest.mark.django_db

EVENT_FIELDS = {
    "id",
    "name",
    "venue",
    "starts_at",
    "sale_opens_at",
    "sale_closes_at",
    "status",
    "queue_enabled",
    "max_tickets_per_user",
    "hold_seconds",
    "admission_seconds",
    "currency",
    "price_tiers",
    "seats_total",
    "seats_available",
}


def test_event_detail_has_every_contract_field(api_client):
    event = event_create(name="Show", venue_name="Arena", sections="A:2x5:R:150000,B:1x4:S:90000")
    response = api_client.get(f"/api/events/{event.id}/")
    assert response.status_code == 200
    body = response.json()
    assert EVENT_FIELDS <= set(body)
    assert body["venue"] == "Arena"
    assert body["status"] == "on_sale"
    assert body["seats_total"] == 14
    assert body["seats_available"] == 14
    assert body["price_tiers"] == [
        {"grade": "R", "price": 150000, "available": 10},
        {"grade": "S", "price": 90000, "available": 4},
    ]
    assert body["max_tickets_per_user"] == 3 and body["hold_seconds"] == 420 and body["admission_seconds"] == 600


def test_availability_counts_lapsed_holds_as_free(api_client, user):
    event = event_create(name="Show", venue_name="Arena", sections="A:1x4:R:1000")
    seats = list(Seat.objects.filter(event=event).order_by("id"))
    past = timezone.now() - timedelta(seconds=5)
    future = timezone.now() + timedelta(minutes=5)
    lapsed = Hold.objects.create(event=event, user=user, expires_at=past)
    live = Hold.objects.create(event=event, user=user, expires_at=future)
    Seat.objects.filter(pk=seats[0].pk).update(status="held", hold=lapsed, held_until=past)
    Seat.objects.filter(pk=seats[1].pk).update(status="held", hold=live, held_until=future)
    Seat.objects.filter(pk=seats[2].pk).update(status="sold")
    body = api_client.get(f"/api/events/{event.id}/").json()
    assert body["seats_available"] == 2
    assert body["price_tiers"][0]["available"] == 2


def test_event_status_follows_window_switch_and_stock(api_client):
    event = event_create(name="Later", venue_name="Arena", sections="A:1x2:R:1000", opens_in=3600)
    assert api_client.get(f"/api/events/{event.id}/").json()["status"] == "scheduled"
    Event.objects.filter(pk=event.pk).update(sale_opens_at=timezone.now() - timedelta(minutes=1))
    assert api_client.get(f"/api/events/{event.id}/").json()["status"] == "on_sale"
    Event.objects.filter(pk=event.pk).update(status="paused")
    assert api_client.get(f"/api/events/{event.id}/").json()["status"] == "paused"
    Event.objects.filter(pk=event.pk).update(status="on_sale")
    Seat.objects.filter(event=event).update(status="sold")
    assert api_client.get(f"/api/events/{event.id}/").json()["status"] == "sold_out"
    Event.objects.filter(pk=event.pk).update(sale_closes_at=timezone.now() - timedelta(seconds=1))
    assert api_client.get(f"/api/events/{event.id}/").json()["status"] == "closed"


def test_event_list_is_a_plain_array_in_few_queries(api_client, django_assert_max_num_queries):
    for n in range(5):
        event_create(name=f"Show {n}", venue_name=f"Arena {n % 2}", sections="A:3x3:R:1000,B:2x2:S:500")
    with django_assert_max_num_queries(2):
        response = api_client.get("/api/events/")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 5
    assert all(e["seats_total"] == 13 for e in body)


def test_unknown_event_is_404_not_found(api_client):
    response = api_client.get("/api/events/999999/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["detail"]


def test_wrong_method_is_405_in_error_shape(api_client):
    response = api_client.delete("/api/events/")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_unknown_api_path_is_404_in_error_shape(client):
    response = client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
