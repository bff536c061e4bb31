"""Seat map: every field, lazy expiry, admission, one query, cache invalidation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reservations.holds import hold_create
from reservations.models import Hold, Seat
from reservations.seatmaps import seat_map_generate
from reservations.selectors import seat_layout_cache_key, seat_map
from tests.reservations.conftest import admit, seat_ids

pytestmark = pytest.mark.django_db


def test_seat_map_lists_every_seat_with_contract_fields(auth_client, event):
    response = auth_client.get(f"/api/events/{event.id}/seats/")
    assert response.status_code == 200
    seats = response.json()["seats"]
    assert len(seats) == 20
    first = seats[0]
    assert set(first) >= {"id", "section", "row", "number", "grade", "price", "status"}
    assert (first["section"], first["row"], first["number"], first["grade"], first["price"]) == ("A", "1", 1, "R", 1000)
    assert {s["status"] for s in seats} == {"available"}


def test_seat_map_shows_held_and_sold_and_lapsed_holds_as_available(auth_client, event, user):
    ids = seat_ids(event)
    past, future = timezone.now() - timedelta(seconds=1), timezone.now() + timedelta(minutes=5)
    lapsed = Hold.objects.create(event=event, user=user, expires_at=past)
    live = Hold.objects.create(event=event, user=user, expires_at=future)
    Seat.objects.filter(pk=ids[0]).update(status="held", hold=lapsed, held_until=past)
    Seat.objects.filter(pk=ids[1]).update(status="held", hold=live, held_until=future)
    Seat.objects.filter(pk=ids[2]).update(status="sold")
    by_id = {s["id"]: s["status"] for s in auth_client.get(f"/api/events/{event.id}/seats/").json()["seats"]}
    assert by_id[ids[0]] == "available"
    assert by_id[ids[1]] == "held"
    assert by_id[ids[2]] == "sold"


def test_seat_map_applies_lazy_expiry_at_read_time(event, user):
    ids = seat_ids(event)
    soon = timezone.now() + timedelta(seconds=30)
    hold = Hold.objects.create(event=event, user=user, expires_at=soon)
    Seat.objects.filter(pk=ids[0]).update(status="held", hold=hold, held_until=soon)
    assert seat_map(event_id=event.id)[0]["status"] == "held"
    assert seat_map(event_id=event.id, now=soon + timedelta(seconds=1))[0]["status"] == "available"


def test_seat_map_is_one_query_with_or_without_the_layout_cache(event):
    cache.delete(seat_layout_cache_key(event.id))
    with CaptureQueriesContext(connection) as queries:
        cold = seat_map(event_id=event.id)
    assert len(queries) == 1
    assert cache.get(seat_layout_cache_key(event.id)) is not None
    with CaptureQueriesContext(connection) as queries:
        warm = seat_map(event_id=event.id)
    assert len(queries) == 1
    assert warm == cold


def test_seat_changes_show_at_once_through_the_cached_layout(event, user):
    ids = seat_ids(event)
    assert seat_map(event_id=event.id)[0]["status"] == "available"
    hold_create(event=event, user_id=user.id, seat_ids=[ids[0]])
    assert seat_map(event_id=event.id)[0]["status"] == "held"
    Seat.objects.filter(pk=ids[1]).update(status="sold")
    assert seat_map(event_id=event.id)[1]["status"] == "sold"


def test_the_cached_layout_rebuilds_when_seats_are_added(event):
    seat_map(event_id=event.id)
    seat_map_generate(event=event, spec="C:1x3:V:5000")
    seats = seat_map(event_id=event.id)
    assert len(seats) == 23
    assert {s["grade"] for s in seats[-3:]} == {"V"} and seats[-1]["price"] == 5000


def test_queued_event_needs_admission(auth_client, make_event, user):
    event = make_event(queue_enabled=True)
    response = auth_client.get(f"/api/events/{event.id}/seats/")
    assert response.status_code == 403
    assert response.json()["error"] == "not_admitted"
    admit(event, user.id)
    assert auth_client.get(f"/api/events/{event.id}/seats/").status_code == 200


def test_lapsed_admission_is_refused(auth_client, make_event, user):
    event = make_event(queue_enabled=True)
    admit(event, user.id, seconds=-1)
    assert auth_client.get(f"/api/events/{event.id}/seats/").status_code == 403


def test_seat_map_needs_login_and_a_real_event(api_client, auth_client):
    assert api_client.get("/api/events/1/seats/").status_code == 401
    response = auth_client.get("/api/events/999999/seats/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
