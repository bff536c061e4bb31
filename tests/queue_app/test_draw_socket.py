"""The waiting page's socket through the pre-queue and the draw: ``pre_queue``
frames on connect, on every change of the entrants and at least every 5 s,
then the drawn place as ``position`` and the admission as ``admitted``."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from queue_app.selectors import event_sale_snapshot_forget
from queue_app.services import admission_round_run, draws_run, queue_join
from reservations.models import Event
from tests.queue_app.test_websocket import TIMEOUT, _event, _frame, _people, _socket

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _enter(event: Event, user_id: int) -> str:
    state, _ = queue_join(event_id=event.id, user_id=user_id)
    return state.entry


@database_sync_to_async
def _open(event: Event) -> None:
    now = timezone.now()
    Event.objects.filter(pk=event.pk).update(
        prequeue_opens_at=now - timedelta(minutes=30), sale_opens_at=now - timedelta(seconds=1)
    )
    event_sale_snapshot_forget()


async def test_pre_queue_frames_then_the_drawn_place_then_admitted():
    event = await _event(opens_in=3600, prequeue_minutes=70, batch=1, interval=1)
    people = await _people(3)
    entries = [await _enter(event, user_id) for user_id, _ in people[:2]]
    socket = _socket(event, people[1][1])
    assert (await socket.connect(timeout=TIMEOUT))[0]
    first = await _frame(socket)
    assert first == {
        "type": "pre_queue",
        "opens_at": event.sale_opens_at.isoformat(),
        "waiting_total": 2,
        "entry": entries[1],
    }

    entries.append(await _enter(event, people[2][0]))
    await database_sync_to_async(draws_run)()  # the beat: the entrants so far, to every waiting page
    assert (await _frame(socket))["waiting_total"] == 3
    started = time.monotonic()
    repeat = await socket.receive_json_from(timeout=7)  # nothing changes: the same frame within 5 s
    assert repeat["type"] == "pre_queue" and repeat["waiting_total"] == 3
    assert 3.5 <= time.monotonic() - started <= 7

    await _open(event)
    seed = bytes.fromhex(event.draw_seed)
    drawn = sorted(entries, key=lambda e: hashlib.sha256(seed + e.encode()).hexdigest())
    place = drawn.index(entries[1]) + 1
    assert await database_sync_to_async(draws_run)() == 1
    frame = await _frame(socket)
    while frame["type"] == "pre_queue":  # a tick may come before the draw's message
        frame = await _frame(socket)
    assert frame["type"] == "position"
    assert frame["position"] == place
    assert frame["waiting_total"] == 3

    fresh = await database_sync_to_async(Event.objects.get)(pk=event.pk)
    for round_at in range(place):
        await database_sync_to_async(admission_round_run)(event=fresh, now=time.time() + 2 * (round_at + 1))
    frame = await _frame(socket)
    while frame["type"] == "position":
        frame = await _frame(socket)
    assert frame["type"] == "admitted"
    await socket.disconnect()
