"""The draw is made once when the beat, a kicked task and the joins after
the opening race for it, and nobody who joins after it gets an entry. As the
hold tests do, the race is first shown with the protection off
(``QUEUE_DRAW_ONCE=False``: runners check "made?" and then draw, in two
steps with a pause between, and joins take entries by their own clock),
then shown closed by the atomic draw (one Lua step that checks, closes the
pre-queue and fixes its entrants; every entry is checked against it).

The lagging joins go through the store, as a web process does whose sale
snapshot (up to a second old) still says the pre-queue is open.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from core.redis import get_redis
from queue_app import store
from queue_app.keys import entries_key, meta_key, waiting_key
from queue_app.selectors import event_sale_snapshot, event_sale_snapshot_forget
from queue_app.services import draw_kicked_run, draws_run
from reservations.models import Draw, Event
from tests.queue_app.test_draw import _public_order
from tests.reservations.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

# The runners' pause between their check and their draw must outlast the
# joins' way to Redis, also on a loaded 2-core machine.
RACY = {"QUEUE_DRAW_ONCE": False, "QUEUE_DRAW_RACE_PAUSE_SECONDS": 2.0}
JOIN_AFTER_SECONDS = 0.5  # after the runners' check


def _later(seconds: float, call):
    def run():
        time.sleep(seconds)
        return call()

    return run


def _after_the_draw(event_id: int, call):
    """``call`` once someone has made the draw."""

    def run():
        deadline = time.monotonic() + 10
        while store.store_draw_made(event_id=event_id) is None:
            assert time.monotonic() < deadline, "nobody made the draw"
            time.sleep(0.01)
        return call()

    return run


@pytest.mark.parametrize("once", [False, True])
def test_the_draw_is_made_once_and_closes_the_prequeue_when_runners_and_joins_race(make_event, users, client_for, once):
    event = make_event(opens_in=3600, prequeue_minutes=70, batch=100)
    url = f"/api/events/{event.id}/queue/"
    early, late, lagging = users(20, prefix="early"), users(6, prefix="late"), users(6, prefix="lagging")
    entry_of = {u.id: client_for(u).post(url).json()["entry"] for u in early}
    stale = replace(event_sale_snapshot(event_id=event.id).prequeue, closed_by_draw=once)
    now = timezone.now()
    Event.objects.filter(pk=event.id).update(
        prequeue_opens_at=now - timedelta(minutes=30), sale_opens_at=now - timedelta(seconds=1)
    )
    event_sale_snapshot_forget()

    def lagging_join(user_id: int):
        return lambda: store.store_join(
            event_id=event.id, user_id=user_id, now=time.time(), limit=99, window=60, prequeue=stale
        )

    calls = [draws_run, lambda: draw_kicked_run(event_id=event.id)]
    calls += [_later(JOIN_AFTER_SECONDS, lambda c=client_for(u): c.post(url).json()) for u in late]
    calls += [_after_the_draw(event.id, lagging_join(u.id)) for u in lagging]
    with override_settings(**(RACY if not once else {})):
        results = run_together(calls)
    assert not [r for r in results if isinstance(r, Exception)], results

    redis = get_redis()
    draws = int(redis.hget(meta_key(event.id), "draw_starts"))
    score = {int(user): s for user, s in redis.zrange(waiting_key(event.id), 0, -1, withscores=True)}
    entered_after = [u.id for u in lagging if redis.hexists(entries_key(event.id), u.id)]
    if not once:
        assert draws > 1, "without the atomic draw racing runners should draw again"
        assert entered_after, "without the draw closing the pre-queue, a join after it should get an entry"
        assert all(score[e] < score[u.id] for e in entered_after for u in late)  # ahead of earlier joiners
        return
    assert draws == 1
    assert entered_after == []
    assert max(score[u.id] for u in early) < min(score[u.id] for u in late + lagging)
    assert sorted(score) == sorted(u.id for u in early + late + lagging)
    assert Draw.objects.filter(event=event).count() == 1
    draw, recomputed = _public_order(APIClient(), event)
    assert draw["entrants"] == 20
    assert recomputed == [entry_of[u.id] for u in sorted(early, key=lambda u: score[u.id])]
