"""Holds over HTTP: by ids and best available, the contract's errors, all or nothing, ownership."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from reservations.holds import hold_create
from reservations.models import Event, Hold, Order, Seat, Ticket
from reservations.selectors import EVENT_CACHE_SECONDS
from tests.reservations.conftest import admit, seat_ids

pytestmark = pytest.mark.django_db


def _hold(client, event, body):
    return client.post(f"/api/events/{event.id}/holds/", body, format="json")


def _statuses(ids):
    return dict(Seat.objects.filter(id__in=ids).values_list("id", "status"))


def test_hold_by_ids_returns_the_contract_shape(auth_client, event, user):
    ids = seat_ids(event)[:2]
    response = _hold(auth_client, event, {"seat_ids": ids})
    assert response.status_code == 201
    body = response.json()
    assert {"id", "event", "seats", "total", "currency", "expires_at", "status"} <= set(body)
    assert body["event"] == event.id and body["status"] == "active"
    assert body["total"] == 2000 and body["currency"] == "KRW"
    assert [s["id"] for s in body["seats"]] == ids
    assert all(s["status"] == "held" for s in body["seats"])
    hold = Hold.objects.get(pk=body["id"])
    assert hold.user_id == user.id
    assert Seat.objects.filter(id__in=ids, status="held", hold=hold, held_until=hold.expires_at).count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"seat_ids": []},
        {"seat_ids": "1"},
        {"seat_ids": [True]},
        {},
        {"quantity": 0, "grade": "R"},
        {"quantity": "2", "grade": "R"},
        {"quantity": 1, "grade": "ZZ"},
        {"quantity": 1},
    ],
)
def test_bad_hold_input_is_400_invalid_and_changes_nothing(auth_client, event, body):
    response = _hold(auth_client, event, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert not Hold.objects.exists()


def test_duplicate_unknown_and_foreign_seats_are_400(auth_client, event, make_event):
    ids = seat_ids(event)
    other = make_event()
    foreign = seat_ids(other)[0]
    for bad in ([ids[0], ids[0]], [ids[0], 99999999], [ids[0], foreign]):
        response = _hold(auth_client, event, {"seat_ids": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"] == "invalid"
    assert not Hold.objects.exists()
    assert set(_statuses(ids).values()) == {"available"}


def test_taken_seat_is_409_with_the_taken_ids_and_all_or_nothing(auth_client, other_client, event):
    ids = seat_ids(event)
    assert _hold(other_client, event, {"seat_ids": [ids[1]]}).status_code == 201
    response = _hold(auth_client, event, {"seat_ids": [ids[0], ids[1], ids[2]]})
    assert response.status_code == 409
    assert response.json()["error"] == "seat_unavailable"
    assert response.json()["seat_ids"] == [ids[1]]
    statuses = _statuses(ids[:3])
    assert statuses[ids[0]] == "available" and statuses[ids[2]] == "available"


def test_limit_counts_held_and_bought_seats(auth_client, event, user):
    ids = seat_ids(event)
    assert _hold(auth_client, event, {"seat_ids": ids[:2]}).status_code == 201
    response = _hold(auth_client, event, {"seat_ids": ids[2:4]})
    assert response.status_code == 409
    assert response.json() == {
        "error": "limit_exceeded",
        "detail": response.json()["detail"],
        "limit": 3,
    }
    # A bought seat counts too.
    past_hold = Hold.objects.create(event=event, user=user, expires_at=timezone.now(), status="checked_out")
    order = Order.objects.create(event=event, user=user, hold=past_hold, total=1000, currency="KRW")
    Seat.objects.filter(pk=ids[5]).update(status="sold")
    Ticket.objects.create(order=order, event=event, user=user, seat_id=ids[5], code="x" * 22, price=1000)
    assert _hold(auth_client, event, {"seat_ids": [ids[6]]}).json()["error"] == "limit_exceeded"
    assert _statuses([ids[2], ids[3], ids[6]]) == {ids[2]: "available", ids[3]: "available", ids[6]: "available"}


def test_lapsed_holds_do_not_count_and_their_seats_can_be_taken(auth_client, other_client, event):
    ids = seat_ids(event)
    first = _hold(other_client, event, {"seat_ids": ids[:3]}).json()
    past = timezone.now() - timedelta(seconds=1)
    Hold.objects.filter(pk=first["id"]).update(expires_at=past)
    Seat.objects.filter(hold_id=first["id"]).update(held_until=past)
    assert _hold(other_client, event, {"seat_ids": ids[3:6]}).status_code == 201  # the lapsed 3 no longer count
    response = _hold(auth_client, event, {"seat_ids": [ids[0]]})  # lazy expiry: reclaimed without the job
    assert response.status_code == 201
    assert other_client.get(f"/api/holds/{first['id']}/").json()["status"] == "expired"


def test_best_available_takes_adjacent_seats_in_the_best_row(auth_client, make_event):
    event = make_event("A:3x6:R:1000")
    rows = {s.id: s for s in Seat.objects.filter(event=event)}
    front = sorted((s for s in rows.values() if s.row_index == 1), key=lambda s: s.number)
    Seat.objects.filter(pk=front[1].pk).update(status="sold")  # row 1: 1 _ 3 4 5 6
    response = _hold(auth_client, event, {"quantity": 3, "grade": "R"})
    assert response.status_code == 201
    numbers = sorted((s["row"], s["number"]) for s in response.json()["seats"])
    assert numbers == [("1", 3), ("1", 4), ("1", 5)]


def test_the_adjacent_block_is_the_first_run_long_enough_in_quality_order(make_event):
    event = make_event("A:2x6:R:1000")
    seat = {(s.row, s.number): s.id for s in Seat.objects.filter(event=event)}
    candidates = [seat["1", 1], seat["1", 3], seat["2", 4], seat["2", 5]]  # in quality order

    def block(seats: list[int], quantity: int) -> list[int] | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT booking_adjacent_block(%s::bigint[], %s)", [seats, quantity])
            return cursor.fetchone()[0]

    assert block(candidates, 2) == [seat["2", 4], seat["2", 5]]
    assert block(candidates, 3) is None  # no run of three: best available takes the best seats instead
    assert block([seat["2", 1], seat["2", 2], seat["1", 5], seat["1", 6]], 2) == [seat["2", 1], seat["2", 2]]


def test_best_available_not_enough_seats_is_409(auth_client, make_event):
    event = make_event("A:1x2:R:1000")
    response = _hold(auth_client, event, {"quantity": 3, "grade": "R"})
    assert response.status_code == 409 and response.json()["error"] == "not_enough_seats"
    assert not Hold.objects.exists()


def test_best_available_respects_the_limit(auth_client, event):
    response = _hold(auth_client, event, {"quantity": 4, "grade": "R"})
    assert response.status_code == 409 and response.json()["limit"] == 3


def test_holds_need_admission_on_a_queued_event(auth_client, make_event, user):
    event = make_event(queue_enabled=True)
    ids = seat_ids(event)
    assert _hold(auth_client, event, {"seat_ids": [ids[0]]}).json()["error"] == "not_admitted"
    admit(event, user.id)
    assert _hold(auth_client, event, {"seat_ids": [ids[0]]}).status_code == 201


def test_no_holds_outside_the_sale(auth_client, event):
    ids = seat_ids(event)
    event.status = "paused"
    event.save()  # a save reaches this process's event cache at once (a bare UPDATE within a second)
    assert _hold(auth_client, event, {"seat_ids": [ids[0]]}).json()["error"] == "sale_paused"
    event.status, event.sale_opens_at = "on_sale", timezone.now() + timedelta(hours=1)
    event.save()
    assert _hold(auth_client, event, {"seat_ids": [ids[0]]}).json()["error"] == "sale_not_open"


def test_an_event_changed_behind_the_cache_is_seen_within_a_second(auth_client, event):
    ids = seat_ids(event)
    assert _hold(auth_client, event, {"seat_ids": [ids[0]]}).status_code == 201  # the event is now cached
    Event.objects.filter(pk=event.pk).update(status="paused")  # no signal: only the cache's age expires it
    time.sleep(EVENT_CACHE_SECONDS)
    assert _hold(auth_client, event, {"seat_ids": [ids[1]]}).json()["error"] == "sale_paused"


@override_settings(RATE_LIMIT_HOLD="2/m")
def test_hold_creation_is_rate_limited(auth_client, event):
    ids = seat_ids(event)
    _hold(auth_client, event, {"seat_ids": [ids[0]]})
    _hold(auth_client, event, {"seat_ids": [ids[1]]})
    response = _hold(auth_client, event, {"seat_ids": [ids[2]]})
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited" and int(response["Retry-After"]) >= 1


def test_get_and_delete_are_404_for_someone_elses_hold(auth_client, other_client, event):
    hold_id = _hold(auth_client, event, {"seat_ids": seat_ids(event)[:1]}).json()["id"]
    assert other_client.get(f"/api/holds/{hold_id}/").status_code == 404
    response = other_client.delete(f"/api/holds/{hold_id}/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert Hold.objects.get(pk=hold_id).status == "active"
    assert auth_client.get("/api/holds/99999999/").status_code == 404


def test_release_frees_the_seats_at_once_and_is_repeatable(auth_client, event):
    ids = seat_ids(event)[:2]
    hold_id = _hold(auth_client, event, {"seat_ids": ids}).json()["id"]
    assert auth_client.delete(f"/api/holds/{hold_id}/").status_code == 204
    assert set(_statuses(ids).values()) == {"available"}
    assert Seat.objects.filter(id__in=ids, hold__isnull=False).count() == 0
    assert auth_client.get(f"/api/holds/{hold_id}/").json()["status"] == "released"
    assert auth_client.delete(f"/api/holds/{hold_id}/").status_code == 204
    assert Hold.objects.get(pk=hold_id).status == "released"


def test_release_of_checked_out_hold_is_409(auth_client, event, user):
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:1])
    Hold.objects.filter(pk=hold.pk).update(status="checked_out")
    response = auth_client.delete(f"/api/holds/{hold.id}/")
    assert response.status_code == 409 and response.json()["error"] == "already_checked_out"
