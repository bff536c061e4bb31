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
from reservations.selectors import seat_map, seat_map_cache_key
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


def test_cached_seat_map_still_applies_lazy_expiry(event, user):
    ids = seat_ids(event)
    soon = timezone.now() + timedelta(seconds=30)
    hold = Hold.objects.create(event=event, user=user, expires_at=soon)
    Seat.objects.filter(pk=ids[0]).update(status="held", hold=hold, held_until=soon)
    assert seat_map(event_id=event.id)[0]["status"] == "held"
    assert cache.get(seat_map_cache_key(event.id)) is not None
    later = soon + timedelta(seconds=1)
    assert seat_map(event_id=event.id, now=later)[0]["status"] == "available"


def test_seat_map_is_one_query_and_cached(event):
    cache.delete(seat_map_cache_key(event.id))
    with CaptureQueriesContext(connection) as queries:
        seat_map(event_id=event.id)
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        seat_map(event_id=event.id)
    assert len(queries) == 0


def test_a_hold_invalidates_the_cached_map(event, user, django_capture_on_commit_callbacks):
    ids = seat_ids(event)
    assert seat_map(event_id=event.id)[0]["status"] == "available"
    with django_capture_on_commit_callbacks(execute=True):
        hold_create(event=event, user_id=user.id, seat_ids=[ids[0]])
    assert seat_map(event_id=event.id)[0]["status"] == "held"


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
