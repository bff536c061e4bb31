"""Admission follows the booking path: the AIMD step, the latency histogram
the web processes keep in Redis, and admission rounds that admit less while
holds and checkouts are slow."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.services import token_issue
from core.loop_lag import KEY as LOOP_LAG_KEY
from core.loop_lag import loop_lag_publish
from core.redis import get_redis
from queue_app.admission import admission_is_active
from queue_app.controller import MIN_SAMPLES, admission_control_figures, control_next
from queue_app.services import admission_round_run, queue_join
from reservations.health import (
    FLUSH_SECONDS,
    booking_latency_p95,
    booking_latency_record,
    booking_latency_record_async,
)


def test_slow_halves_at_most_once_a_window_and_healthy_grows_back_to_the_ceiling():
    step = {"ceiling": 100, "samples": MIN_SAMPLES, "target_ms": 500}
    assert control_next(current=100, p95_ms=5000, cut_recently=False, **step)[:2] == (
        10,
        "booking p95 5000 ms > 500 ms: cut to 10",
    )  # ten times the target: a tenth
    assert control_next(current=100, p95_ms=5000, cut_recently=False, floor=2, **step)[0] == 10
    assert control_next(current=100, p95_ms=10000, cut_recently=False, floor=2, **step)[0] == 5
    assert control_next(current=100, p95_ms=1000, cut_recently=False, **step)[:2][0] == 50
    assert control_next(current=50, p95_ms=1000, cut_recently=True, **step)[0] == 50  # the cut must show first
    assert control_next(current=10, p95_ms=1000, cut_recently=False, **step)[0] == 10  # never below a tenth
    assert control_next(current=16, p95_ms=1000, cut_recently=False, **step)[0] == 10
    assert control_next(current=50, p95_ms=200, cut_recently=False, **step)[0] == 60  # a tenth of the ceiling
    assert control_next(current=95, p95_ms=200, cut_recently=False, **step)[0] == 100  # never above the ceiling
    few = {**step, "samples": MIN_SAMPLES - 1}
    assert control_next(current=50, p95_ms=5000, cut_recently=False, **few)[0] == 50  # too few to judge: held
    assert control_next(current=50, p95_ms=None, cut_recently=False, **{**few, "samples": 0})[0] == 50


def test_until_the_first_cut_a_healthy_round_doubles():
    step = {"ceiling": 1000, "samples": MIN_SAMPLES, "target_ms": 500, "cut_recently": False}
    assert control_next(current=100, p95_ms=200, starting=True, **step)[0] == 200
    assert control_next(current=600, p95_ms=200, starting=True, **step)[0] == 1000  # never above the ceiling
    assert control_next(current=100, p95_ms=200, starting=False, **step)[0] == 200  # a tenth of 1,000 added
    assert control_next(current=400, p95_ms=200, starting=False, **step)[0] == 500
    assert control_next(current=400, p95_ms=900, starting=True, **step)[:3:2] == (200, True)  # slow still halves


def test_near_the_target_the_batch_holds_instead_of_growing():
    """Between half the target and the target a round neither grows nor
    cuts: growing there overshoots before the new shoppers' requests show
    (session 9's on-sale rounds grew at a p95 of 500 ms until it was 2.5 s)."""
    step = {"ceiling": 1000, "samples": MIN_SAMPLES, "target_ms": 500, "cut_recently": False}
    for p95, starting in ((500, True), (300, True), (300, False), (500, False)):
        batch, reason, cut = control_next(current=100, p95_ms=p95, starting=starting, **step)
        assert (batch, cut) == (100, False) and "near the 500 ms target, holding at 100" in reason
    assert control_next(current=100, p95_ms=200, lag_ms=300, **step)[:2] == (
        100,
        "booking p95 200 ms, event-loop lag 300 ms: near the 500 ms target, holding at 100",
    )
    assert control_next(current=100, p95_ms=250, lag_ms=250, floor=10, **step)[0] == 110  # half the target: grows
    assert control_next(current=100, p95_ms=501, floor=10, **step)[:3:2] == (50, True)  # past it: cut


def test_blind_rounds_admit_only_what_the_start_batch_has_room_for(settings):
    from queue_app.controller import _blind_admit

    settings.ADMISSION_START_BATCH = 100
    blind = {"batch": 400, "ceiling": 1000, "floor": 10, "reason": "too few requests to judge"}
    assert _blind_admit(unarrived=96, **blind)[0] == 10  # the 96 admitted not booking yet fill it: the floor
    assert _blind_admit(unarrived=30, **blind)[0] == 70
    assert _blind_admit(unarrived=0, **blind)[0] == 400  # nobody admitted is pending: nothing to wait for
    small = {**blind, "batch": 40, "ceiling": 40}
    assert _blind_admit(unarrived=96, **small)[0] == 40  # within the start batch: admitted blind, as ever


def test_a_lagging_event_loop_halves_even_before_any_slow_request_finished():
    step = {"ceiling": 100, "samples": 0, "target_ms": 500, "p95_ms": None}
    batch, reason, cut = control_next(current=100, cut_recently=False, lag_ms=800, **step)
    assert (batch, cut) == (50, True) and "event-loop lag 800 ms" in reason
    assert (
        control_next(current=50, cut_recently=False, lag_ms=40, **{**step, "samples": MIN_SAMPLES, "p95_ms": 80})[0]
        == 60
    )  # a calm loop and quick requests grow


def test_the_histogram_gives_the_p95_of_the_last_seconds():
    now = time.time()
    for _ in range(90):
        booking_latency_record(0.04, now=now - 1)  # 40 ms: the 50 ms bucket
    for _ in range(10):
        booking_latency_record(1.2, now=now - 2)  # 1.2 s: the 1,500 ms bucket
    assert booking_latency_p95(window_seconds=5, now=now) == (1500.0, 100)
    assert booking_latency_p95(window_seconds=5, now=now + 10) == (None, 0)  # old seconds no longer count


async def test_the_event_loop_path_sends_its_counts_together_within_a_tick():
    now = time.time()
    for _ in range(19):
        await booking_latency_record_async(0.04, now=now - 1)
    await booking_latency_record_async(2.0, now=now - 1)
    assert booking_latency_p95(window_seconds=5, now=now) == (None, 0)  # counted in the process, not sent yet
    await asyncio.sleep(FLUSH_SECONDS * 3)
    assert booking_latency_p95(window_seconds=5, now=now) == (50.0, 20)
    assert get_redis().hgetall(f"booking:latency:{int(now - 1)}") == {
        b"2": b"19",
        b"10": b"1",
    }  # 50 ms and 2,500 ms buckets
    await booking_latency_record_async(1.2, now=now - 2)  # the flusher ended; a new count starts another
    await asyncio.sleep(FLUSH_SECONDS * 3)
    assert booking_latency_p95(window_seconds=5, now=now)[1] == 21


@pytest.mark.django_db
def test_a_hold_request_is_counted(make_event, users):
    event = make_event(queue_enabled=False)
    user = users(1)[0]
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)}")
    seat = event.seats.order_by("id").first()
    assert client.post(f"/api/events/{event.id}/holds/", {"seat_ids": [seat.id]}, format="json").status_code == 201
    assert booking_latency_p95(window_seconds=2, now=time.time() + 1)[1] == 1


@pytest.mark.django_db
def test_a_seat_status_read_is_counted(make_event, users):
    """The seat page's status read is an admitted shopper's first request:
    counted, a slow machine shows before the first hold does."""
    event = make_event(queue_enabled=False)
    user = users(1)[0]
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)}")
    assert client.get(f"/api/events/{event.id}/seats/status/").status_code == 200
    assert booking_latency_p95(window_seconds=2, now=time.time() + 1)[1] == 1


@pytest.mark.django_db(transaction=True)
async def test_a_seat_status_read_on_the_event_loop_is_counted(make_event, users):
    from asgiref.sync import sync_to_async
    from channels.testing import HttpCommunicator

    from reservations.fastpath import BookingFastPath

    event = await sync_to_async(make_event)(queue_enabled=False)
    user = (await sync_to_async(users)(1))[0]
    token = await sync_to_async(token_issue)(user=user)

    async def not_served(scope: dict, receive: Any, send: Any) -> None:
        raise AssertionError("the fast path handed the status read on")

    headers = [(b"host", b"testserver"), (b"authorization", f"Token {token}".encode())]
    communicator = HttpCommunicator(
        BookingFastPath(not_served), "GET", f"/api/events/{event.id}/seats/status/", headers=headers
    )
    assert (await communicator.get_response(timeout=10))["status"] == 200
    await asyncio.sleep(FLUSH_SECONDS * 3)
    assert booking_latency_p95(window_seconds=2, now=time.time() + 1)[1] == 1


def _queue_while_booking_is_slow(make_event: Any, users: Any, people: int) -> tuple[Any, list[Any], float]:
    """An event (batch 40) with ``people`` waiting, and holds and checkouts that answered in 2 s just now."""
    event = make_event(sections="A:10x30:R:1000", batch=40, interval=1, cap=10_000)
    waiting = users(people)
    for person in waiting:
        queue_join(event_id=event.id, user_id=person.id)
    now = time.time()
    for _ in range(MIN_SAMPLES):
        booking_latency_record(2.0, now=now - 1)  # far above the target
    return event, waiting, now


@pytest.mark.django_db
def test_rounds_admit_less_while_booking_is_slow_and_more_once_it_recovers(make_event, users):
    event, people, now = _queue_while_booking_is_slow(make_event, users, 200)
    admission_round_run(event=event, now=now)
    admitted = sum(admission_is_active(event=event, user_id=p.id) for p in people)
    assert admitted == 8  # the organizer's 40 cut in proportion: p95 2.5 s (2 s's bucket) against 500 ms
    batch, reason = admission_control_figures(event_id=event.id)
    assert batch == 8 and "cut to 8" in reason

    later = now + 30  # the slow seconds are out of the window: healthy again
    _quick_requests(now=later - 1)
    admission_round_run(event=event, now=later)
    assert admission_control_figures(event_id=event.id)[0] == 12  # grows by a tenth of 40


@pytest.mark.django_db
def test_the_controller_off_admits_the_organizer_batch(make_event, users, settings):
    settings.ADMISSION_CONTROLLER = False
    event, people, now = _queue_while_booking_is_slow(make_event, users, 60)
    admission_round_run(event=event, now=now)
    assert sum(admission_is_active(event=event, user_id=p.id) for p in people) == 40
    assert get_redis().hget(f"q:{{{event.id}}}:meta", "ctl_batch") is None


@pytest.mark.django_db(transaction=True)
async def test_a_round_admits_half_while_a_web_process_reports_a_lagging_loop(make_event, users):
    from asgiref.sync import sync_to_async

    event = await sync_to_async(make_event)(sections="A:10x30:R:1000", batch=40, interval=1, cap=10_000)
    people = await sync_to_async(users)(60)
    for person in people:
        await sync_to_async(queue_join)(event_id=event.id, user_id=person.id)
    get_redis().delete(LOOP_LAG_KEY)
    await loop_lag_publish(2.0)  # no booking request finished yet; the loop is 2 s late
    await sync_to_async(admission_round_run)(event=event)
    batch, reason = admission_control_figures(event_id=event.id)
    assert batch == 10 and "event-loop lag 2000 ms" in reason
    admitted = await sync_to_async(lambda: sum(admission_is_active(event=event, user_id=p.id) for p in people))()
    assert admitted == 10


def _quick_requests(*, now: float) -> None:
    """Enough booking requests answered in 20 ms in the second of ``now`` to judge the path healthy."""
    for _ in range(MIN_SAMPLES):
        booking_latency_record(0.02, now=now)


def _admitted(event: Any, people: list[Any]) -> int:
    return sum(admission_is_active(event=event, user_id=p.id) for p in people)


@pytest.mark.django_db
def test_a_sale_starts_slow_doubles_while_healthy_and_adds_after_the_first_cut(make_event, users, settings):
    settings.ADMISSION_START_BATCH = 5
    event = make_event(sections="A:10x30:R:1000", batch=40, interval=1, cap=10_000)
    people = users(120)
    for person in people:
        queue_join(event_id=event.id, user_id=person.id)
    now = time.time()
    admitted = []
    for second in range(4):
        if second >= 2:  # the first admitted reach the booking path, quickly
            _quick_requests(now=now + second - 1)
        admission_round_run(event=event, now=now + second)
        admitted.append(_admitted(event, people))
    # 5; then, with no request yet to say how the path fares, only the floor
    # (1) beside the 5 admitted not booking yet; then doubling: 10, 20.
    assert admitted == [5, 6, 16, 36]
    assert admission_control_figures(event_id=event.id)[0] == 20
    for _ in range(MIN_SAMPLES * 2):
        booking_latency_record(2.0, now=now + 3)
    admission_round_run(event=event, now=now + 4)
    assert admission_control_figures(event_id=event.id)[0] == 4  # 20 cut in proportion: 2.5 s against 500 ms
    assert _admitted(event, people) == 40
    _quick_requests(now=now + 29)
    admission_round_run(event=event, now=now + 30)  # healthy again, past the first cut: the floor (1) added
    assert admission_control_figures(event_id=event.id)[0] == 5


@pytest.mark.django_db
def test_rounds_before_the_sale_opens_leave_the_start_for_the_opening(make_event, users, settings):
    settings.ADMISSION_START_BATCH = 5
    event = make_event(sections="A:10x30:R:1000", batch=40, interval=1, cap=10_000, opens_in=60)
    now = time.time()
    for second in range(5):
        admission_round_run(event=event, now=now + second)
    assert admission_control_figures(event_id=event.id) == (None, "no round yet")
    event.sale_opens_at = timezone.now() - timedelta(seconds=1)
    event.save(update_fields=["sale_opens_at"])
    people = users(20)
    for person in people:
        queue_join(event_id=event.id, user_id=person.id)
    admission_round_run(event=event, now=now + 5)
    assert _admitted(event, people) == 5
    assert admission_control_figures(event_id=event.id) == (5, "first round of the sale: 5")
