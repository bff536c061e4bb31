"""Admission rounds against real Redis and PostgreSQL: FIFO, cap, expiry,
leaving, pausing, sold out, seat-aware admission and the Celery entry point."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.redis import get_redis
from queue_app import tasks
from queue_app.admission import admission_end, admission_is_active
from queue_app.keys import active_key, idle_round_key
from queue_app.services import (
    admission_round_run,
    event_sale_pause,
    event_sale_resume,
    queue_join,
    queue_leave,
    queue_state_get,
)
from reservations.models import Event, Hold, Seat


def _admitted_now(event: Event, user_ids: list[int]) -> list[int]:
    return [u for u in user_ids if admission_is_active(event=event, user_id=u)]


@pytest.mark.django_db(transaction=True)
def test_fifo_under_concurrent_joins_admission_order_equals_join_order(make_event, users):
    event = make_event(sections="A:10x30:R:1000", batch=7, cap=10_000)
    people = users(120)
    joined: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def worker(chunk: list) -> None:
        try:
            barrier.wait()
            for user in chunk:
                state, created = queue_join(event_id=event.id, user_id=user.id)
                assert created
                with lock:
                    joined[user.id] = state.position
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(people[i::12],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(joined.values()) == list(range(1, 121))  # every join got its own place
    join_order = sorted(joined, key=joined.get)
    admitted: list[int] = []
    now = time.time()
    for round_no in range(20):
        outcome = admission_round_run(event=event, now=now + 2 * round_no)
        admitted += outcome.result.admitted
    assert admitted == join_order


@pytest.mark.django_db
def test_cap_is_never_exceeded_across_rounds(make_event, users):
    event = make_event(batch=4, interval=1, cap=6)
    ids = [u.id for u in users(20)]
    for user_id in ids:
        queue_join(event_id=event.id, user_id=user_id)
    now = time.time()
    for step in range(6):
        outcome = admission_round_run(event=event, now=now + step)
        assert outcome.result.admitted_total <= 6
        assert len(_admitted_now(event, ids)) <= 6
    assert len(_admitted_now(event, ids)) == 6


@pytest.mark.django_db
def test_admission_expiry_frees_a_place(make_event, users):
    event = make_event(batch=5, cap=1, admission_seconds=30)
    a, b = (u.id for u in users(2))
    queue_join(event_id=event.id, user_id=a)
    queue_join(event_id=event.id, user_id=b)
    now = time.time()
    assert admission_round_run(event=event, now=now).result.admitted == [a]
    assert admission_round_run(event=event, now=now + 10).result.admitted == []  # cap reached

    outcome = admission_round_run(event=event, now=now + 31)  # a's admission lapsed
    assert outcome.lapsed == [a]
    assert outcome.result.admitted == [b]
    assert queue_state_get(event_id=event.id, user_id=a).state == "expired"


@pytest.mark.django_db
def test_leave_and_admission_end_free_a_place_at_once(make_event, users):
    event = make_event(batch=5, cap=1)
    a, b, c, d = (u.id for u in users(4))
    for user_id in (a, b, c, d):
        queue_join(event_id=event.id, user_id=user_id)
    now = time.time()
    assert admission_round_run(event=event, now=now).result.admitted == [a]
    queue_leave(event_id=event.id, user_id=c)  # a waiting person leaves: d moves up
    assert queue_state_get(event_id=event.id, user_id=d).position == 2

    queue_leave(event_id=event.id, user_id=a)  # the admitted person leaves
    assert admission_round_run(event=event, now=now + 2).result.admitted == [b]
    admission_end(event_id=event.id, user_id=b)  # e.g. after checkout
    assert not admission_is_active(event=event, user_id=b)
    assert queue_state_get(event_id=event.id, user_id=b).state == "expired"
    assert admission_round_run(event=event, now=now + 4).result.admitted == [d]


@pytest.mark.django_db
def test_paused_queue_admits_nobody_until_resumed(make_event, users):
    event = make_event(batch=5)
    ids = [u.id for u in users(3)]
    for user_id in ids:
        queue_join(event_id=event.id, user_id=user_id)
    assert event_sale_pause(event_id=event.id)
    event.refresh_from_db()
    now = time.time()
    outcome = admission_round_run(event=event, now=now)
    assert outcome.status == "paused"
    assert outcome.result.admitted == []
    assert queue_state_get(event_id=event.id, user_id=ids[0]).position == 1

    assert event_sale_resume(event_id=event.id)
    event.refresh_from_db()
    assert admission_round_run(event=event, now=now + 2).result.admitted == ids


@pytest.mark.django_db
def test_sold_out_stops_admission_and_reads_sold_out(make_event, users):
    event = make_event(sections="A:1x2:R:1000", batch=5)
    ids = [u.id for u in users(3)]
    for user_id in ids:
        queue_join(event_id=event.id, user_id=user_id)
    Seat.objects.filter(event=event).update(status=Seat.Status.SOLD)
    outcome = admission_round_run(event=event)
    assert outcome.status == "sold_out"
    assert outcome.result.admitted == []
    assert queue_state_get(event_id=event.id, user_id=ids[0]).state == "sold_out"


@pytest.mark.django_db
def test_seat_aware_admission_never_outnumbers_free_seats(make_event, users):
    event = make_event(sections="A:1x3:R:1000", batch=10, cap=10)
    people = users(6)
    ids = [u.id for u in people]
    for user_id in ids:
        queue_join(event_id=event.id, user_id=user_id)
    now = time.time()
    first = admission_round_run(event=event, now=now)
    assert first.result.admitted == ids[:3]  # 3 free seats, 3 shoppers
    assert first.result.seats_left == 0
    waiting = queue_state_get(event_id=event.id, user_id=ids[3])
    assert (waiting.position, waiting.likely_sold_out) == (1, True)

    # The first shopper holds two seats: one free seat, two admitted shoppers without a hold.
    hold = Hold.objects.create(event=event, user=people[0], expires_at=timezone.now() + timedelta(minutes=5))
    seats = list(Seat.objects.filter(event=event).order_by("id")[:2])
    Seat.objects.filter(pk__in=[s.pk for s in seats]).update(
        status=Seat.Status.HELD, hold=hold, held_until=hold.expires_at
    )
    assert admission_round_run(event=event, now=now + 2).result.admitted == []

    admission_end(event_id=event.id, user_id=ids[1])  # one of them gives up: the seat is still spoken for
    assert admission_round_run(event=event, now=now + 4).result.admitted == []
    admission_end(event_id=event.id, user_id=ids[2])  # the other too: one seat for the next in line
    assert admission_round_run(event=event, now=now + 6).result.admitted == [ids[3]]


@pytest.mark.django_db
def test_likely_sold_out_only_past_the_seats_left(make_event, users):
    event = make_event(sections="A:1x4:R:1000", batch=1, cap=10)
    ids = [u.id for u in users(6)]
    for user_id in ids:
        queue_join(event_id=event.id, user_id=user_id)
    admission_round_run(event=event)  # admits 1: 3 seats left for the 5 waiting
    flags = [queue_state_get(event_id=event.id, user_id=u).likely_sold_out for u in ids[1:]]
    assert flags == [False, False, False, True, True]


@pytest.mark.django_db
def test_celery_task_entry_point_runs_rounds_for_on_sale_events(make_event, users):
    on_sale = make_event(batch=2)
    later = make_event(opens_in=3600)
    no_queue = make_event(queue_enabled=False)
    ids = [u.id for u in users(3)]
    for user_id in ids:
        queue_join(event_id=on_sale.id, user_id=user_id)

    assert tasks.admission_rounds_run() == 1
    assert _admitted_now(on_sale, ids) == ids[:2]
    assert later.id != no_queue.id


@pytest.mark.django_db
def test_an_idle_event_has_its_round_once_in_a_while_a_busy_one_every_tick(make_event, users):
    idle = make_event(batch=2)
    busy = make_event(batch=2)
    ids = [u.id for u in users(2)]
    for user_id in ids:
        queue_join(event_id=busy.id, user_id=user_id)
    assert tasks.admission_rounds_run() == 2  # the idle event's round too, the first time
    assert tasks.admission_rounds_run() == 1  # then the busy event's alone, each tick
    assert _admitted_now(busy, ids) == ids
    admission_end(event_id=busy.id, user_id=ids[0])  # bought: ended at once
    get_redis().zadd(active_key(busy.id), {ids[1]: time.time() - 1}, xx=True)  # lapsed: a round must say so
    assert tasks.admission_rounds_run() == 1
    assert admission_is_active(event=busy, user_id=ids[1]) is False
    assert tasks.admission_rounds_run() == 0  # both idle now, within ADMISSION_IDLE_ROUND_SECONDS
    get_redis().delete(idle_round_key(idle.id))  # ADMISSION_IDLE_ROUND_SECONDS later
    assert tasks.admission_rounds_run() == 1
    assert get_redis().pttl(idle_round_key(busy.id)) <= settings.ADMISSION_IDLE_ROUND_SECONDS * 1000
