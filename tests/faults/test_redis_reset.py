"""Redis restarted empty (no persistence, a failover to a lagging replica):
open waiting pages resync instead of freezing, the HTTP state agrees, and an
admitted shopper with a live hold can still pay.

The whole stack runs on a redis-server of the test's own, which is killed
and started again empty on the same port. The last two tests hold the
project's Redis clients to it alone: every dead pooled connection is
replaced, and a Redis that stays down still fails at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from websockets.sync.client import connect

from accounts.services import token_issue
from core.redis import async_redis_client, redis_client
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

        with ThreadPoolExecutor(16) as pool:  # a busy process: several idle connections in its Redis pool
            assert set(pool.map(lambda _: api(live.url, "GET", queue, token=tokens["reset1"])[0], range(64))) == {200}
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


#: Idle connections the pool holds when Redis goes away, as a busy web process's does.
POOLED = 8


def _connected_clients(url: str) -> int:
    """Client connections the server holds, this look-up's own not counted."""
    with redis.Redis.from_url(url) as admin:
        return len(admin.client_list()) - 1


async def test_every_dead_pooled_connection_is_replaced_when_redis_comes_back(redis_server):
    """After a restart every idle connection of an event loop's pool is
    closed, and redis-py 8.1 hands them out anyway. Each command must still be
    answered (retried once on a fresh connection), however many run at once."""
    server = redis_server()
    client = async_redis_client(server.url, max_connections=POOLED)
    await asyncio.gather(*(client.blpop(["never"], timeout=0.2) for _ in range(POOLED)))
    assert _connected_clients(server.url) == POOLED  # all of them idle in the pool now

    server.kill()
    server.start()  # back, and empty
    with redis.Redis.from_url(server.url) as admin:
        admin.set("x", b"back")
    answers = await asyncio.gather(*(client.get("x") for _ in range(POOLED)), return_exceptions=True)
    assert answers == [b"back"] * POOLED
    await client.aclose(close_connection_pool=True)


async def test_a_redis_that_stays_down_still_fails_at_once(redis_server):
    """The retry is for a dead connection, not a dead server: with Redis gone,
    both clients raise ``ConnectionError`` (the contract's 503) in well under
    a second."""
    server = redis_server()
    sync_client = redis_client(server.url)
    async_client = async_redis_client(server.url, max_connections=2)
    sync_client.ping()
    await async_client.ping()
    server.kill()

    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        sync_client.get("x")
    with pytest.raises(redis.ConnectionError):
        await async_client.get("x")
    assert time.monotonic() - started < 0.5
    await async_client.aclose(close_connection_pool=True)


async def test_failed_connects_give_their_turns_back_once(redis_server):
    """Commands refused while Redis is down hand their turn back, once each:
    with Redis back, a burst past the pool's size is served on at most that
    many connections (a turn given back twice would let the pool open more
    and raise; one never given back would leave the burst waiting)."""
    server = redis_server()
    client = async_redis_client(server.url, max_connections=2)
    server.kill()
    for _ in range(5):  # more than the pool's size: a turn kept would leave the next one waiting for good
        with pytest.raises(redis.ConnectionError):
            await asyncio.wait_for(client.get("x"), 5)
    server.start()
    answers = await asyncio.wait_for(
        asyncio.gather(*(client.blpop(["never"], timeout=0.01) for _ in range(40)), return_exceptions=True), 10
    )
    assert answers == [None] * 40
    assert _connected_clients(server.url) <= 2
    await client.aclose(close_connection_pool=True)
