"""The draw is made once when the beat, a kicked task and the first joins
after the opening race for it. As the hold tests do, the race is first
shown with the protection off (``QUEUE_DRAW_ONCE=False``: "started?" is
checked, then the draw started, in two steps with a pause between), then
shown closed by the atomic start (one Lua step that checks and starts)."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from core.redis import get_redis
from queue_app.keys import meta_key, waiting_key
from queue_app.selectors import event_sale_snapshot_forget
from queue_app.services import draw_kicked_run, draws_run
from reservations.models import Draw, Event
from tests.queue_app.test_draw import _public_order
from tests.reservations.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

# The runners' pause between their check and their start must outlast the
# late joins' way to the server, also on a loaded 2-core machine.
RACY = {"QUEUE_DRAW_ONCE": False, "QUEUE_DRAW_RACE_PAUSE_SECONDS": 1.5}
JOIN_AFTER_SECONDS = 0.5


def _join_later(client: APIClient, url: str):
    def call():
        time.sleep(JOIN_AFTER_SECONDS)  # after the runners' check, inside their pause
        return client.post(url).json()

    return call


@pytest.mark.parametrize("once", [False, True])
def test_the_draw_is_made_once_when_the_beat_a_kicked_task_and_joins_race(make_event, users, client_for, once):
    event = make_event(opens_in=3600, prequeue_minutes=70, batch=100)
    url = f"/api/events/{event.id}/queue/"
    early, late = users(20, prefix="early"), users(8, prefix="late")
    entry_of = {u.id: client_for(u).post(url).json()["entry"] for u in early}
    now = timezone.now()
    Event.objects.filter(pk=event.id).update(
        prequeue_opens_at=now - timedelta(minutes=30), sale_opens_at=now - timedelta(seconds=1)
    )
    event_sale_snapshot_forget()

    calls = [draws_run, lambda: draw_kicked_run(event_id=event.id)]
    calls += [_join_later(client_for(u), url) for u in late]
    with override_settings(**(RACY if not once else {})):
        results = run_together(calls)
    assert not [r for r in results if isinstance(r, Exception)], results

    redis = get_redis()
    starts = int(redis.hget(meta_key(event.id), "draw_starts"))
    seqs = {int(user): score for user, score in redis.zrange(waiting_key(event.id), 0, -1, withscores=True)}
    behind = [e.id for e in early if any(seqs[e.id] > seqs[u.id] for u in late)]
    if not once:
        assert starts > 1, "without the atomic start racing runners should start the draw again"
        assert behind, "a second start should put entries behind people who joined after the opening"
        return
    assert starts == 1
    assert behind == []
    assert sorted(seqs) == sorted(u.id for u in early + late)  # everyone placed, once
    assert Draw.objects.filter(event=event).count() == 1
    draw, recomputed = _public_order(APIClient(), event)
    assert draw["entrants"] == 20
    assert sorted(recomputed) == sorted(entry_of.values())
    seed = bytes.fromhex(draw["seed"])
    by_seq = sorted(early, key=lambda u: seqs[u.id])
    assert [entry_of[u.id] for u in by_seq] == recomputed
    assert recomputed == sorted(recomputed, key=lambda e: hashlib.sha256(seed + e.encode()).hexdigest())
