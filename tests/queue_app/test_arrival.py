"""Seats go to people who show up: an admitted person who neither opens the
seat map nor holds a seat within the event's arrival window loses the
admission and the next person gets the place; who arrives in time keeps the
full window."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import token_issue
from queue_app.services import admission_round_run, queue_join, queue_state_get
from ticketing.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _event(make_event, **options):
    return make_event(batch=1, interval=1, cap=1, arrival_seconds=30, admission_seconds=600, **options)


def test_a_no_show_loses_the_place_to_the_next_person_when_the_arrival_window_ends(make_event, users):
    event = _event(make_event)
    first, second = users(2)
    for person in (first, second):
        queue_join(event_id=event.id, user_id=person.id)
    now = time.time()
    assert admission_round_run(event=event, now=now).result.admitted == [first.id]
    admitted = queue_state_get(event_id=event.id, user_id=first.id)
    assert admitted.state == "admitted"
    assert abs(_ts(admitted.admitted_until) - (now + 30)) < 1  # the arrival deadline, until they arrive

    assert admission_round_run(event=event, now=now + 10).result.admitted == []  # the cap of one is taken
    later = admission_round_run(event=event, now=now + 31)
    assert later.lapsed == [first.id] and later.result.admitted == [second.id]  # the place went on at once
    assert queue_state_get(event_id=event.id, user_id=first.id).state == "expired"


def test_opening_the_seat_map_in_time_keeps_the_full_window(make_event, users, client_for):
    event = _event(make_event)
    first, second = users(2)
    for person in (first, second):
        queue_join(event_id=event.id, user_id=person.id)
    now = time.time()
    admission_round_run(event=event, now=now)
    assert client_for(first).get(f"/api/events/{event.id}/seats/status/").status_code == 200  # arrives
    state = queue_state_get(event_id=event.id, user_id=first.id)
    assert abs(_ts(state.admitted_until) - (now + 600)) < 1  # the full ten minutes
    later = admission_round_run(event=event, now=now + 31)
    assert later.lapsed == [] and later.result.admitted == []  # still theirs


def test_a_hold_is_an_arrival_too(make_event, users, client_for):
    event = _event(make_event)
    (person,) = users(1)
    queue_join(event_id=event.id, user_id=person.id)
    now = time.time()
    admission_round_run(event=event, now=now)
    hold = client_for(person).post(f"/api/events/{event.id}/holds/", {"quantity": 1, "grade": "R"}, format="json")
    assert hold.status_code == 201
    assert admission_round_run(event=event, now=now + 31).lapsed == []


def test_no_arrival_window_when_it_is_off(make_event, users):
    event = make_event(batch=1, interval=1, arrival_seconds=0, admission_seconds=600)
    (person,) = users(1)
    queue_join(event_id=event.id, user_id=person.id)
    now = time.time()
    admission_round_run(event=event, now=now)
    assert abs(_ts(queue_state_get(event_id=event.id, user_id=person.id).admitted_until) - (now + 600)) < 1
    assert admission_round_run(event=event, now=now + 31).lapsed == []


async def test_the_waiting_page_hears_why_the_turn_passed(make_event, users):
    event = await sync_to_async(_event)(make_event)
    (person,) = await sync_to_async(users)(1)
    token = await sync_to_async(lambda: token_issue(user=person))()
    await sync_to_async(queue_join)(event_id=event.id, user_id=person.id)
    socket = WebsocketCommunicator(
        application, f"/ws/events/{event.id}/queue/", headers=[(b"authorization", f"Token {token}".encode())]
    )
    assert (await socket.connect(timeout=5))[0]
    assert (await socket.receive_json_from(timeout=5))["type"] == "position"
    now = time.time()
    await sync_to_async(admission_round_run)(event=event, now=now)
    assert (await socket.receive_json_from(timeout=5))["type"] == "admitted"
    await sync_to_async(admission_round_run)(event=event, now=now + 31)
    assert await socket.receive_json_from(timeout=5) == {"type": "expired", "reason": "not_arrived"}
    await socket.disconnect()


def _ts(iso: str | None) -> float:
    assert iso is not None
    return datetime.fromisoformat(iso).timestamp()
