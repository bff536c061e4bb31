"""The waiting page's WebSocket through the real ASGI application (origin
check, session/token auth) and the real channels_redis pub/sub layer."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from accounts.services import token_issue
from core.redis import get_redis
from queue_app.hub import hub_get
from queue_app.keys import socket_key
from queue_app.services import (
    admission_round_run,
    event_sale_pause,
    event_sale_resume,
    queue_join,
    queue_leave,
    queue_state_get,
)
from reservations.models import Event, Seat
from reservations.services import event_create
from ticketing.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


@database_sync_to_async
def _event(**options) -> Event:
    return event_create(name="Night", venue_name="Dome", sections=options.pop("sections", "A:4x10:R:1000"), **options)


@database_sync_to_async
def _people(count: int) -> list[tuple[int, str]]:
    people = []
    for i in range(count):
        user = get_user_model().objects.create_user(username=f"ws{i}", password="pw-Secret-123")
        people.append((user.id, token_issue(user=user)))
    return people


@database_sync_to_async
def _join(event: Event, user_id: int) -> None:
    queue_join(event_id=event.id, user_id=user_id)


@database_sync_to_async
def _round(event: Event, now: float | None = None):
    event.refresh_from_db()
    return admission_round_run(event=event, now=now)


def _socket(event: Event, token: str | None, origin: bytes | None = None) -> WebsocketCommunicator:
    headers = []
    if token:
        headers.append((b"authorization", f"Token {token}".encode()))
    if origin:
        headers.append((b"origin", origin))
    return WebsocketCommunicator(application, f"/ws/events/{event.id}/queue/", headers=headers)


async def _frame(socket: WebsocketCommunicator) -> dict:
    return await socket.receive_json_from(timeout=TIMEOUT)


async def test_unauthenticated_socket_is_accepted_then_closed_4401():
    event = await _event()
    socket = _socket(event, None)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    assert await socket.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4401}


async def test_bad_token_is_closed_4401_and_foreign_origin_is_refused():
    event = await _event()
    ((_, token),) = await _people(1)
    socket = _socket(event, "not-a-token")
    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert (await socket.receive_output(timeout=TIMEOUT))["code"] == 4401

    foreign = _socket(event, token, origin=b"https://evil.example")
    connected, _ = await foreign.connect(timeout=TIMEOUT)
    assert not connected

    same_site = _socket(event, token, origin=b"http://localhost:8000")
    assert (await same_site.connect(timeout=TIMEOUT))[0]
    await same_site.disconnect()


async def test_session_cookie_authenticates_a_browser():
    event = await _event()
    ((user_id, _),) = await _people(1)
    await _join(event, user_id)

    @database_sync_to_async
    def session_cookie() -> str:
        from django.test import Client

        client = Client()
        client.force_login(get_user_model().objects.get(pk=user_id))
        return client.cookies["sessionid"].value

    cookie = await session_cookie()
    socket = WebsocketCommunicator(
        application,
        f"/ws/events/{event.id}/queue/",
        headers=[(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost")],
    )
    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert (await _frame(socket))["position"] == 1
    await socket.disconnect()


async def test_position_updates_admitted_with_next_and_ping():
    event = await _event(batch=1, interval=1)
    people = await _people(3)
    for user_id, _ in people:
        await _join(event, user_id)
    third = _socket(event, people[2][1])
    assert (await third.connect(timeout=TIMEOUT))[0]
    first_frame = await _frame(third)
    assert first_frame == {
        "type": "position",
        "position": 3,
        "waiting_total": 3,
        "eta_seconds": 3,
        "likely_sold_out": False,
    }

    await third.send_json_to({"type": "ping"})
    assert await _frame(third) == {"type": "pong"}

    now = time.time()
    await _round(event, now)
    frame = await _frame(third)
    assert (frame["type"], frame["position"], frame["waiting_total"]) == ("position", 2, 2)

    await database_sync_to_async(queue_leave)(event_id=event.id, user_id=people[1][0])  # the one ahead leaves
    await _round(event, now + 1)  # admits nobody new ahead: only the departure moves third up
    frame = await _frame(third)
    assert frame["type"] == "admitted" or frame["position"] == 1

    if frame["type"] != "admitted":
        await _round(event, now + 2)
        frame = await _frame(third)
    assert frame["type"] == "admitted"
    assert frame["next"] == f"/events/{event.id}/seats/"
    assert frame["admitted_until"]
    await third.disconnect()


async def test_departure_ahead_and_admission_move_position_to_the_exact_rank():
    event = await _event(batch=2, interval=1, cap=2)
    people = await _people(6)
    for user_id, _ in people:
        await _join(event, user_id)
    last = _socket(event, people[5][1])
    assert (await last.connect(timeout=TIMEOUT))[0]
    assert (await _frame(last))["position"] == 6

    await database_sync_to_async(queue_leave)(event_id=event.id, user_id=people[3][0])
    await _round(event, time.time())  # admits 2 (cap 2), and one left ahead
    assert (await _frame(last))["position"] == 3
    state = await database_sync_to_async(queue_state_get)(event_id=event.id, user_id=people[5][0])
    assert state.position == 3
    await last.disconnect()


async def test_positions_never_go_up_and_reconnect_reads_current_state():
    event = await _event(batch=1, interval=1)
    people = await _people(3)
    for user_id, _ in people:
        await _join(event, user_id)
    socket = _socket(event, people[2][1])
    assert (await socket.connect(timeout=TIMEOUT))[0]
    seen = [(await _frame(socket))["position"]]
    now = time.time()
    for step in range(2):
        await _round(event, now + step)
        frame = await _frame(socket)
        if frame["type"] == "position":
            seen.append(frame["position"])
    assert seen == sorted(seen, reverse=True)
    assert seen[-1] == 1
    await socket.disconnect()

    again = _socket(event, people[2][1])
    assert (await again.connect(timeout=TIMEOUT))[0]
    assert (await _frame(again))["position"] == 1
    await again.disconnect()


async def test_admitted_on_connect_and_expired_when_the_admission_lapses():
    event = await _event(batch=5, admission_seconds=30)
    ((user_id, token),) = await _people(1)
    await _join(event, user_id)
    now = time.time()
    await _round(event, now)
    socket = _socket(event, token)
    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert (await _frame(socket))["type"] == "admitted"
    await _round(event, now + 31)
    assert await _frame(socket) == {"type": "expired"}
    await socket.disconnect()


async def test_pause_resume_and_sold_out_are_told_to_the_waiting_page():
    event = await _event(sections="A:1x2:R:1000", batch=1)
    people = await _people(4)
    for user_id, _ in people:
        await _join(event, user_id)
    socket = _socket(event, people[3][1])
    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert (await _frame(socket))["position"] == 4

    await database_sync_to_async(event_sale_pause)(event_id=event.id)
    assert await _frame(socket) == {"type": "paused"}
    assert (await _round(event)).result.admitted == []
    await database_sync_to_async(event_sale_resume)(event_id=event.id)
    assert await _frame(socket) == {"type": "resumed"}

    await database_sync_to_async(lambda: Seat.objects.filter(event=event).update(status=Seat.Status.SOLD))()
    outcome = await _round(event)
    assert outcome.result.admitted == []
    assert await _frame(socket) == {"type": "sold_out"}
    await socket.disconnect()


async def test_queue_disabled_event_says_admitted_at_once():
    event = await _event(queue_enabled=False)
    ((_, token),) = await _people(1)
    socket = _socket(event, token)
    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert await _frame(socket) == {"type": "admitted", "admitted_until": None, "next": f"/events/{event.id}/seats/"}
    await socket.disconnect()


async def test_many_sockets_share_one_listener_per_event():
    event = await _event(batch=50, interval=1)
    people = await _people(40)
    for user_id, _ in people:
        await _join(event, user_id)
    sockets = [_socket(event, token) for _, token in people]
    for socket in sockets:
        assert (await socket.connect(timeout=TIMEOUT))[0]
        await _frame(socket)
    hub = hub_get()
    assert list(hub.listeners) == [event.id]
    assert hub.consumer_count() == 40

    await _round(event)
    # One socket at a time: concurrent receives would interleave the global
    # mock.patch of close_old_connections in Channels' test communicator and
    # could leave it patched to a no-op (database connections then leak).
    frames = [await _frame(s) for s in sockets]
    assert {f["type"] for f in frames} == {"admitted"}
    for socket in sockets:
        await socket.disconnect()
    await asyncio.sleep(0)
    assert hub.listeners == {}


async def test_idle_socket_gets_position_every_5_seconds_and_still_hears_rounds():
    """redis-py 8's 5 s default read timeout broke channels_redis' blocking
    receive (upstream issue 422): after 6 quiet seconds a round must still arrive."""
    event = await _event(batch=1, interval=1)
    people = await _people(2)
    for user_id, _ in people:
        await _join(event, user_id)
    socket = _socket(event, people[1][1])
    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert (await _frame(socket))["position"] == 2
    started = time.monotonic()
    repeat = await socket.receive_json_from(timeout=7)
    assert repeat["type"] == "position"
    assert repeat["position"] == 2
    assert 4 <= time.monotonic() - started <= 7
    await asyncio.sleep(1.5)
    await _round(event)
    assert (await _frame(socket))["position"] == 1
    await socket.disconnect()


async def test_a_newer_socket_of_the_same_person_closes_the_older_one_4409():
    event = await _event(batch=1, interval=1)
    (me, token), (other, other_token) = await _people(2)
    await _join(event, me)
    await _join(event, other)
    first = _socket(event, token)
    assert (await first.connect(timeout=TIMEOUT))[0]
    await _frame(first)
    someone_else = _socket(event, other_token)
    assert (await someone_else.connect(timeout=TIMEOUT))[0]
    await _frame(someone_else)

    second = _socket(event, token)
    assert (await second.connect(timeout=TIMEOUT))[0]
    assert (await _frame(second))["type"] == "position"
    assert await first.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4409}
    assert await someone_else.receive_nothing(timeout=0.2)  # another person's socket stays
    await _round(event)
    assert (await _frame(second))["type"] == "admitted"  # the newer socket keeps working
    await second.disconnect()
    await someone_else.disconnect()


async def _one_person_listening() -> tuple[Event, int, str, WebsocketCommunicator]:
    """An event, a person in its line, and that person's open socket (its first frame read)."""
    event = await _event()
    ((me, token),) = await _people(1)
    await _join(event, me)
    socket = _socket(event, token)
    assert (await socket.connect(timeout=TIMEOUT))[0]
    await _frame(socket)
    return event, me, token, socket


async def test_the_older_socket_in_another_process_hears_it_through_the_event_channel(monkeypatch):
    """The claim names a socket this process does not hold (as in another
    uvicorn worker): the replacement goes out on the event's channel and the
    holder closes it."""
    event, _, token, first = await _one_person_listening()
    listener = hub_get().listeners[event.id]
    calls = []
    replace = listener.replace

    async def replace_seen(connection: str) -> bool:
        calls.append(connection)
        if len(calls) == 1:
            return False  # the claim's local look-up misses, as in another process...
        return await replace(connection)  # ...and the event channel's message reaches the holder

    monkeypatch.setattr(listener, "replace", replace_seen)
    second = _socket(event, token)
    assert (await second.connect(timeout=TIMEOUT))[0]
    assert await first.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4409}
    assert len(calls) == 2  # the local miss, then the channel's message
    await second.disconnect()


async def test_a_closed_socket_gives_up_its_claim_so_a_reconnect_replaces_nothing():
    event, me, _, first = await _one_person_listening()
    await first.disconnect()
    assert get_redis().get(socket_key(event.id, me)) is None


async def test_quiet_sockets_read_their_state_once_not_after_every_silence(monkeypatch):
    """The waiting pages of a plain queued event read Redis once on connect
    and then follow the rounds, even after a silence longer than the
    watchdog's (ws_fanout's 5,000 sockets re-read their state in waves while
    the queue was quiet, thousands of reads landing in a round). A silence
    costs one read of the round counters per process, not one per socket."""
    from queue_app import store

    state_reads: list[int] = []
    read_state = store.store_state_async

    async def counted_state_read(**kwargs):
        state_reads.append(kwargs["user_id"])
        return await read_state(**kwargs)

    monkeypatch.setattr(store, "store_state_async", counted_state_read)
    event = await _event(batch=2, interval=1)
    people = await _people(12)
    for user_id, _ in people:
        await _join(event, user_id)
    sockets = [_socket(event, token) for _, token in people]
    for socket in sockets:
        assert (await socket.connect(timeout=TIMEOUT))[0]
        assert (await _frame(socket))["type"] == "position"
    assert sorted(state_reads) == sorted(u for u, _ in people)  # one read each, on connect

    await asyncio.sleep(7)  # no round: a silence longer than the 5 s watchdog's
    for number in range(1, 4):
        await asyncio.sleep(1.1)  # the event's interval
        await _round(event)
        for place, socket in enumerate(sockets, start=1):
            if place <= 2 * (number - 1):
                continue  # admitted in an earlier round
            frame = await _frame(socket)
            while frame["type"] == "position" and frame["position"] == place - 2 * (number - 1):
                frame = await _frame(socket)  # the 5 s repeat of the old position
            if place <= 2 * number:
                assert frame["type"] == "admitted"
            else:
                assert frame["type"] == "position" and frame["position"] == place - 2 * number
    assert len(state_reads) == len(people), "a socket read its state again without missing a round"
    for socket in sockets:
        await socket.disconnect()
