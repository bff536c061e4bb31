"""``/ws/events/{id}/seats/``: the seat page hears of a change within a
second, with the seats that changed (what ``?since=`` answers), and only
while the person may read the statuses."""

from __future__ import annotations

import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import token_issue
from reservations import seat_push
from reservations.holds import hold_create
from reservations.seat_status import status_answer_async
from tests.reservations.conftest import admit, seat_ids
from ticketing.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _socket(event_id: int, token: str | None) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver")]
    if token:
        headers.append((b"authorization", f"Token {token}".encode()))
    return WebsocketCommunicator(application, f"/ws/events/{event_id}/seats/", headers=headers)


async def test_a_hold_reaches_a_listening_seat_page_within_a_second(make_event, make_user, settings):
    settings.SEAT_STATUS_MAX_AGE_SECONDS = 0.25
    settings.SEAT_PUSH_SECONDS = 0.25
    event = await sync_to_async(make_event)(sections="A:10x30:R:1000")
    person = await sync_to_async(make_user)("viewer")
    token = await sync_to_async(lambda: token_issue(user=person))()
    seat = sorted(await sync_to_async(seat_ids)(event))[4]
    socket = _socket(event.id, token)
    assert (await socket.connect(timeout=5))[0]
    first = await socket.receive_json_from(timeout=5)
    assert first["type"] == "seats" and isinstance(first["version"], int)

    held_at = time.monotonic()
    await sync_to_async(hold_create)(event=event, user_id=person.id, seat_ids=[seat], quantity=None, grade=None)
    pushed = await socket.receive_json_from(timeout=5)
    assert time.monotonic() - held_at < 1.0
    assert pushed["since"] == first["version"] and pushed["version"] > first["version"]
    assert pushed["changes"] == [[seat, "held"]]
    answer = await status_answer_async(event_id=event.id, since=first["version"])
    assert answer.body == {"version": pushed["version"], "changes": pushed["changes"]}  # what ?since= answers

    await socket.send_to(text_data=json.dumps({"type": "ping"}))
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    assert await socket.receive_nothing(timeout=0.6)  # nothing changed: nothing pushed
    await socket.disconnect()


async def test_no_listening_without_signing_in_or_for_an_unknown_event(make_event, make_user):
    event = await sync_to_async(make_event)()
    anonymous = _socket(event.id, None)
    await anonymous.connect(timeout=5)
    assert (await anonymous.receive_output(timeout=5))["code"] == 4401
    person = await sync_to_async(make_user)("viewer")
    token = await sync_to_async(lambda: token_issue(user=person))()
    unknown = _socket(999_999_999, token)
    await unknown.connect(timeout=5)
    assert (await unknown.receive_output(timeout=5))["code"] == 4404


async def test_on_a_queued_event_only_the_admitted_listen_and_a_lapsed_admission_closes_the_socket(
    make_event, make_user, settings, monkeypatch
):
    settings.SEAT_PUSH_SECONDS = 0.1
    monkeypatch.setattr(seat_push, "ADMISSION_RECHECK_SECONDS", 0.2)
    event = await sync_to_async(make_event)(queue_enabled=True)
    person = await sync_to_async(make_user)("viewer")
    token = await sync_to_async(lambda: token_issue(user=person))()
    refused = _socket(event.id, token)
    await refused.connect(timeout=5)
    assert (await refused.receive_output(timeout=5))["code"] == 4403  # the frames carry statuses: 403 not_admitted

    await sync_to_async(admit)(event, person.id, seconds=1.0)
    admitted = _socket(event.id, token)
    assert (await admitted.connect(timeout=5))[0]
    assert (await admitted.receive_json_from(timeout=5))["type"] == "seats"
    assert (await admitted.receive_output(timeout=5))["type"] == "websocket.close"  # the admission lapsed after 1 s
