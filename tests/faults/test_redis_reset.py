"""Redis restarted empty (no persistence, a failover to a lagging replica):
open waiting pages resync instead of freezing, the HTTP state agrees, and an
admitted shopper with a live hold can still pay.

The whole stack runs on a redis-server of the test's own, which is killed
and started again empty on the same port.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.sync.client import connect

from accounts.services import token_issue
from reservations.models import Order
from tests.faults.conftest import api, hold_seats, pay, wait_for
from tests.reservations.conftest import make_users, seat_ids

pytestmark = pytest.mark.django_db(transaction=True)


def _frames_until(socket: Any, wanted: str, *, timeout: float) -> list[dict]:
    """Frames received until one of type ``wanted`` (or the timeout)."""
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            frame = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        frames.append(frame)
        if frame["type"] == wanted:
            break
    return frames


@pytest.mark.parametrize(
    "rounds_resume",
    [True, False],
    ids=["rounds-resume-with-a-new-epoch", "no-rounds-after-the-reset"],  # the socket's silence watchdog alone
)
def test_waiting_pages_resync_after_redis_restarts_empty(stack, redis_server, make_event, rounds_resume):
    server = redis_server()
    live = stack(REDIS_URL=server.url, CELERY_BROKER_URL=server.url, ADMISSION_TICK_SECONDS="0.5")
    live.start("web", "worker", "beat")
    event = make_event(queue_enabled=True, batch=1, interval=1, cap=1)
    shopper, waiter = make_users(2, prefix="reset")
    tokens = {u.username: token_issue(user=u) for u in (shopper, waiter)}
    queue = f"/api/events/{event.id}/queue/"
    assert api(live.url, "POST", queue, token=tokens["reset0"])[0] == 201
    assert wait_for(lambda: api(live.url, "GET", queue, token=tokens["reset0"])[1]["state"] == "admitted", timeout=15)
    assert api(live.url, "POST", queue, token=tokens["reset1"])[0] == 201  # cap 1: waits behind the shopper
    hold = hold_seats(live.url, tokens["reset0"], event.id, seat_ids(event)[:1])

    ws_url = live.url.replace("http://", "ws://") + f"/ws/events/{event.id}/queue/"
    with connect(ws_url, additional_headers={"Authorization": f"Token {tokens['reset1']}"}) as socket:
        first = _frames_until(socket, "position", timeout=10)
        assert first and first[-1]["type"] == "position" and first[-1]["position"] == 1

        if not rounds_resume:
            live.kill("worker")  # as when the worker dies with the broker (an upstream kombu race)
        server.kill()
        server.start()  # back, and empty
        started = time.monotonic()
        frames = _frames_until(socket, "not_in_queue", timeout=15)
        assert frames and frames[-1]["type"] == "not_in_queue", frames
        assert time.monotonic() - started <= 10, "the page stayed frozen for more than 10 s"

    status, state = api(live.url, "GET", queue, token=tokens["reset1"])
    assert status == 200 and state["state"] == "not_in_queue"  # HTTP says the same as the socket

    # The shopper's admission is gone with the data, but a live hold can still be paid for.
    status, order = pay(live.url, tokens["reset0"], hold["id"], key="after-reset", card="tok_ok")
    assert status == 201 and order["status"] == "paid"
    assert Order.objects.filter(hold_id=hold["id"], status="paid").exists()
