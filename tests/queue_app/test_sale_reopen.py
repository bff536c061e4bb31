"""Seats that come back reopen a sold-out sale: a waiting page that was told
``sold_out`` hears ``resumed`` and is admitted, state reads and joins agree,
through the domain signal ``seats_returned`` (reservations never imports
the queue)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from accounts.services import token_issue
from queue_app.selectors import event_sale_snapshot_forget
from queue_app.services import admission_round_run, queue_join, queue_state_get
from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Event, Seat
from reservations.refunds import order_cancel, order_refund
from reservations.services import event_create
from ticketing.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


@database_sync_to_async
def _sold_out_with_one_waiting(**options: Any) -> tuple[Event, Any, Any, int]:
    """An event of two seats whose only admitted buyer bought both, and one
    person still waiting: (event, buyer, waiter, the buyer's order id)."""
    event = event_create(
        name="Tiny", venue_name="Attic", sections="A:1x2:R:1000", cap=1, batch=5, interval=1, cancel_hours=24, **options
    )
    model = get_user_model()
    buyer, waiter = (model.objects.create_user(username=n, password="pw-Secret-123") for n in ("buyer", "waiter"))
    queue_join(event_id=event.id, user_id=buyer.id)
    queue_join(event_id=event.id, user_id=waiter.id)
    admission_round_run(event=event)  # cap 1: the buyer only
    hold = hold_create(
        event=event, user_id=buyer.id, seat_ids=list(Seat.objects.filter(event=event).values_list("id", flat=True))
    )
    order = checkout(hold_id=hold.id, user_id=buyer.id, payment_token="tok_ok", idempotency_key="all").order
    return event, buyer, waiter, order.id


@database_sync_to_async
def _round(event: Event) -> None:
    admission_round_run(event=Event.objects.get(pk=event.pk))


async def _frames_until(socket: WebsocketCommunicator, kind: str) -> list[str]:
    """Frame types received up to and including the first of ``kind`` (pongs and positions skipped)."""
    seen = []
    while True:
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame["type"] in ("position", "pong"):
            continue
        seen.append(frame["type"])
        if frame["type"] == kind:
            return seen


async def test_a_cancellation_reopens_a_sold_out_sale_and_the_waiting_page_hears_it():
    event, buyer, waiter, order_id = await _sold_out_with_one_waiting()
    token = await database_sync_to_async(token_issue)(user=waiter)
    socket = WebsocketCommunicator(
        application, f"/ws/events/{event.id}/queue/", headers=[(b"authorization", f"Token {token}".encode())]
    )
    assert (await socket.connect(timeout=TIMEOUT))[0]
    await _round(event)
    assert await _frames_until(socket, "sold_out") == ["sold_out"]
    state = await database_sync_to_async(queue_state_get)(event_id=event.id, user_id=waiter.id)
    assert state.state == "sold_out"
    late = await database_sync_to_async(get_user_model().objects.create_user)(username="late", password="pw-Secret-1")
    event_sale_snapshot_forget(event_id=event.id)  # as a second later: this process's snapshot sees the sale out
    with pytest.raises(Exception) as refused:
        await database_sync_to_async(queue_join)(event_id=event.id, user_id=late.id)
    assert getattr(refused.value, "code", None) == "sold_out"

    await asyncio.sleep(1.1)  # the event's admission interval since the last admitting round
    await database_sync_to_async(order_cancel)(order_id=order_id, user_id=buyer.id)

    # No beat runs here: the round the cancellation started admits the waiter at once.
    assert await _frames_until(socket, "admitted") == ["resumed", "admitted"]
    state = await database_sync_to_async(queue_state_get)(event_id=event.id, user_id=waiter.id)
    assert state.state == "admitted"
    joined, _ = await database_sync_to_async(queue_join)(event_id=event.id, user_id=late.id)
    assert joined.state == "waiting"
    await socket.disconnect()


async def test_an_organizer_refund_reopens_it_too():
    event, _, waiter, order_id = await _sold_out_with_one_waiting()
    await _round(event)
    assert (await database_sync_to_async(queue_state_get)(event_id=event.id, user_id=waiter.id)).state == "sold_out"
    await asyncio.sleep(1.1)

    await database_sync_to_async(order_refund)(order_id=order_id)

    assert (await database_sync_to_async(queue_state_get)(event_id=event.id, user_id=waiter.id)).state == "admitted"
