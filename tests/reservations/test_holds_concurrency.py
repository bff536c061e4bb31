"""Holds under real concurrency: threads, each with its own connection and transactions.

After pretix: where practical a test first shows the race with the row locks
switched off (``BOOKING_ROW_LOCKS=False``), then that the locks close it.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from django.db import connection, transaction
from django.test import override_settings

from reservations.holds import hold_create, hold_release, holds_expire
from reservations.models import Hold, Seat
from tests.reservations.conftest import client_for, make_users, seat_ids
from tests.reservations.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

# The pause between check and write must outlast every thread's way to its
# check, also on a loaded 2-core CI machine, or the race does not show.
RACY = {"BOOKING_ROW_LOCKS": False, "BOOKING_RACE_PAUSE_SECONDS": 0.6}


def _post_hold(client, event, body):
    def call():
        response = client.post(f"/api/events/{event.id}/holds/", body, format="json")
        return response.status_code, response.json()

    return call


def _claims(results) -> Counter:
    """How many successful holds claimed each seat."""
    return Counter(s["id"] for status, body in results if status == 201 for s in body["seats"])


@pytest.mark.parametrize("locks", [False, True])
def test_one_seat_many_shoppers(make_event, locks):
    event = make_event("A:1x4:R:1000")
    target = seat_ids(event)[0]
    clients = [client_for(u) for u in make_users(8)]
    with override_settings(**(RACY if not locks else {})):
        results = run_together([_post_hold(c, event, {"seat_ids": [target]}) for c in clients])
    won = [r for r in results if r[0] == 201]
    if not locks:
        assert len(won) > 1, "without the row lock the race should let several shoppers hold one seat"
        return
    assert len(won) == 1
    assert all(r[0] == 409 and r[1]["error"] == "seat_unavailable" for r in results if r[0] != 201)
    assert Seat.objects.get(pk=target).hold_id == won[0][1]["id"]


@pytest.mark.parametrize("locks", [False, True])
def test_one_persons_parallel_holds_never_pass_the_limit(make_event, user, locks):
    event = make_event("A:1x8:R:1000")
    client = client_for(user)
    with override_settings(**(RACY if not locks else {})):
        results = run_together([_post_hold(client, event, {"seat_ids": [i]}) for i in seat_ids(event)[:6]])
    won = sum(1 for r in results if r[0] == 201)
    if not locks:
        assert won > 3, "without the person's row lock parallel holds should pass the limit"
        return
    assert won == 3
    assert all(r[1]["error"] == "limit_exceeded" for r in results if r[0] != 201)
    assert Seat.objects.filter(event=event, status="held").count() == 3


def test_contention_storm_never_holds_a_seat_twice(make_event):
    event = make_event("A:1x6:R:1000")
    ids = seat_ids(event)
    users = make_users(24)
    rng = random.Random(4)

    def shopper(user):
        client = client_for(user)
        outcomes = []
        for _ in range(4):
            wanted = rng.sample(ids, rng.randint(1, 3))  # random sets in random orders
            response = client.post(f"/api/events/{event.id}/holds/", {"seat_ids": wanted}, format="json")
            outcomes.append((response.status_code, response.json()))
        return outcomes

    results = [o for per_user in run_together([lambda u=u: shopper(u) for u in users]) for o in per_user]
    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {201, 409}, statuses
    # "busy" is the bounded lock wait giving up (lock_timeout) on a loaded machine: still a 409, never a 500.
    conflicts = {body["error"] for status, body in results if status == 409}
    assert conflicts <= {"seat_unavailable", "limit_exceeded", "busy"}
    claims = _claims(results)
    assert all(count == 1 for count in claims.values()), claims
    held = dict(Seat.objects.filter(event=event, status="held").values_list("id", "hold_id"))
    assert set(held) == set(claims)
    for status, body in results:
        if status == 201:
            assert all(held[s["id"]] == body["id"] for s in body["seats"])


def test_overlapping_holds_in_opposite_orders_do_not_deadlock(make_event):
    """Holders of [a, b] and [b, a] plus releases and the expiry job, all at once."""
    event = make_event("A:1x4:R:1000")
    a, b, c, _ = seat_ids(event)
    users = make_users(12)
    errors: list[BaseException] = []

    def shopper(index, user):
        order = [a, b, c] if index % 2 else [c, b, a]
        outcomes = []
        for _ in range(6):
            try:
                hold = hold_create(event=event, user_id=user.id, seat_ids=order)
                hold_release(hold_id=hold.id, user_id=user.id)
                outcomes.append("held")
            except Exception as exc:  # noqa: BLE001
                outcomes.append(getattr(exc, "code", repr(exc)))
        return outcomes

    def expirer():
        return [holds_expire() for _ in range(10)]

    calls = [lambda i=i, u=u: shopper(i, u) for i, u in enumerate(users)] + [expirer]
    results = run_together(calls)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors
    outcomes = Counter(o for per_user in results[:-1] for o in per_user)
    assert set(outcomes) <= {"held", "seat_unavailable"}, outcomes
    assert outcomes["held"] >= 1
    assert Seat.objects.filter(event=event).exclude(status="available").count() == 0


@pytest.mark.parametrize("locks", [False, True])
def test_best_available_under_concurrency(make_event, locks):
    event = make_event("A:2x10:R:1000")
    clients = [client_for(u) for u in make_users(14)]
    with override_settings(**(RACY if not locks else {})):
        results = run_together([_post_hold(c, event, {"quantity": 2, "grade": "R"}) for c in clients])
    claims = _claims(results)
    if not locks:
        assert any(count > 1 for count in claims.values()), "without locks best available should double-hold"
        return
    assert all(count == 1 for count in claims.values())
    assert {r[0] for r in results} <= {201, 409}
    won = [body for status, body in results if status == 201]
    assert len(won) >= 8  # 20 seats, 2 each: skip_locked lets most proceed at once
    assert Seat.objects.filter(event=event, status="held").count() == 2 * len(won)
    for body in won:
        numbers = sorted(s["number"] for s in body["seats"])
        assert len({s["row"] for s in body["seats"]}) == 1 and numbers[1] - numbers[0] == 1


@override_settings(DB_LOCK_TIMEOUT_MS=200)
def test_a_lock_wait_is_bounded_and_answers_409_busy(make_event, user):
    event = make_event("A:1x2:R:1000")
    target = seat_ids(event)[0]
    locked, done = threading.Event(), threading.Event()

    def blocker():
        with transaction.atomic():
            list(Seat.objects.select_for_update().filter(pk=target))
            locked.set()
            done.wait(10)
        connection.close()

    thread = threading.Thread(target=blocker)
    thread.start()
    try:
        assert locked.wait(10)
        response = client_for(user).post(f"/api/events/{event.id}/holds/", {"seat_ids": [target]}, format="json")
    finally:
        done.set()
        thread.join()
    assert response.status_code == 409
    assert response.json()["error"] == "busy"
    assert response["Retry-After"] == "1"
    assert not Hold.objects.exists()
