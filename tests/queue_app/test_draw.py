"""The pre-queue and its draw (API.md "Fair opening: pre-queue and draw"):
entries before the opening, a draw anyone can check from the public
endpoints alone, entries ahead of every later join, the draw made once.

Time moves by moving the event's times (the organizer's clock), not by
sleeping: ``_open`` puts the opening a second in the past.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from core.redis import get_redis
from queue_app import store
from queue_app.selectors import event_sale_snapshot, event_sale_snapshot_forget
from queue_app.services import admission_round_run, draws_run
from reservations.models import Draw, Event

pytestmark = pytest.mark.django_db

PRE_QUEUE_FIELDS = {"state", "opens_at", "waiting_total", "entry", "ws"}


def _url(event: Event, tail: str = "queue/") -> str:
    return f"/api/events/{event.id}/{tail}"


def _prequeue_event(make_event: Any, **options: Any) -> Event:
    """An event whose pre-queue is open: the sale opens in an hour, the pre-queue opened 10 minutes ago."""
    return make_event(opens_in=3600, prequeue_minutes=70, **options)


def _open(event: Event) -> None:
    """The sale's opening passes (the pre-queue keeps its length before it)."""
    now = timezone.now()
    Event.objects.filter(pk=event.id).update(
        prequeue_opens_at=now - timedelta(minutes=30), sale_opens_at=now - timedelta(seconds=1)
    )
    event_sale_snapshot_forget(event_id=event.id)
    event.refresh_from_db()


def _redis_keys(event: Event) -> dict[bytes, Any]:
    """Every Redis key of the event's queue with its content (to show nothing changed)."""
    redis = get_redis()
    found = {}
    for key in sorted(redis.scan_iter(match=f"q:{{{event.id}}}:*")):
        kind = redis.type(key)
        read = {b"zset": lambda k: redis.zrange(k, 0, -1, withscores=True), b"hash": redis.hgetall}.get(
            kind, lambda k: redis.dump(k)
        )
        found[key] = read(key)
    return found


def _public_order(anyone: APIClient, event: Event) -> tuple[dict, list[str]]:
    """The draw as anyone checks it: the two public answers, and the order recomputed from them."""
    draw = anyone.get(_url(event, "draw/")).json()
    entries = anyone.get(_url(event, "draw/entries/")).json()
    seed = bytes.fromhex(draw["seed"])
    assert hashlib.sha256(seed).hexdigest() == draw["commitment"]
    recomputed = sorted(entries, key=lambda entry: hashlib.sha256(seed + entry.encode("utf-8")).hexdigest())
    return draw, recomputed


def test_a_prequeue_join_answers_pre_queue_with_an_entry_and_a_rejoin_keeps_it(make_event, users, client_for):
    event = _prequeue_event(make_event)
    first, second = (client_for(u) for u in users(2))

    joined = first.post(_url(event))
    assert joined.status_code == 201
    body = joined.json()
    assert set(body) == PRE_QUEUE_FIELDS
    assert body["state"] == "pre_queue"
    assert body["opens_at"] == event.sale_opens_at.isoformat()
    assert body["waiting_total"] == 1
    assert body["ws"] == f"/ws/events/{event.id}/queue/"
    entry = body["entry"]
    assert isinstance(entry, str) and len(entry) >= 16

    assert second.post(_url(event)).json()["waiting_total"] == 2
    again = first.post(_url(event))
    assert again.status_code == 200
    assert again.json() == {**body, "waiting_total": 2}
    assert first.get(_url(event)).json() == {**body, "waiting_total": 2}
    assert second.post(_url(event)).json()["entry"] != entry


def test_leaving_the_prequeue_removes_the_entry(make_event, users, client_for):
    event = _prequeue_event(make_event)
    leaver, stayer = (client_for(u) for u in users(2))
    gone = leaver.post(_url(event)).json()["entry"]
    stayer.post(_url(event))

    assert leaver.delete(_url(event)).status_code == 204
    state = leaver.get(_url(event)).json()
    assert state["state"] == "not_in_queue"
    assert "entry" not in state
    assert stayer.get(_url(event)).json()["waiting_total"] == 1
    assert leaver.delete(_url(event)).status_code == 204  # leaving twice changes nothing

    _open(event)
    draws_run()
    entries = APIClient().get(_url(event, "draw/entries/")).json()
    assert len(entries) == 1 and gone not in entries


def test_joins_before_the_prequeue_opens_are_409_with_its_opening_and_change_nothing(make_event, users, client_for):
    event = make_event(opens_in=3600, prequeue_minutes=30)
    (person,) = (client_for(u) for u in users(1))

    refused = person.post(_url(event))
    assert refused.status_code == 409
    assert refused.json()["error"] == "sale_not_open"
    assert refused.json()["opens_at"] == event.prequeue_opens_at.isoformat()
    assert refused.json()["detail"]
    assert [key for key in _redis_keys(event) if b":rl:" not in key] == []
    assert person.get(_url(event)).json()["state"] == "not_in_queue"

    plain = make_event(opens_in=3600)
    assert person.post(_url(plain)).json()["opens_at"] == plain.sale_opens_at.isoformat()


def test_a_closed_or_paused_event_in_its_prequeue_window(make_event, users, client_for):
    event = _prequeue_event(make_event)
    (person,) = (client_for(u) for u in users(1))
    Event.objects.filter(pk=event.id).update(status=Event.Status.PAUSED)
    event_sale_snapshot_forget(event_id=event.id)
    assert person.post(_url(event)).json()["state"] == "pre_queue"  # a paused sale keeps taking its line

    Event.objects.filter(pk=event.id).update(status=Event.Status.CLOSED)
    event_sale_snapshot_forget(event_id=event.id)
    before = _redis_keys(event)
    closed = person.post(_url(event))
    assert (closed.status_code, closed.json()["error"]) == (409, "sale_closed")
    assert _redis_keys(event) == before


def test_draw_endpoints_404_without_a_prequeue_and_409_before_the_draw(make_event, users, client_for):
    anyone = APIClient()
    plain = make_event()
    for tail in ("draw/", "draw/entries/"):
        for event_id in (plain.id, 999_999, 10**30):
            response = anyone.get(f"/api/events/{event_id}/{tail}")
            assert response.status_code == 404, (tail, event_id)
            assert response.json()["error"] == "not_found"

    event = _prequeue_event(make_event)
    client_for(users(1)[0]).post(_url(event))
    before = _redis_keys(event)
    pending = anyone.get(_url(event, "draw/"))
    assert pending.status_code == 200
    assert pending.json() == {
        "state": "pending",
        "commitment": hashlib.sha256(bytes.fromhex(event.draw_seed)).hexdigest(),
        "opens_at": event.sale_opens_at.isoformat(),
    }
    not_yet = anyone.get(_url(event, "draw/entries/"))
    assert (not_yet.status_code, not_yet.json()["error"]) == (409, "draw_pending")
    assert not_yet.json()["detail"]
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token nonsense")
    assert bad_token.get(_url(event, "draw/")).status_code == 200  # no login: a bad token is no reason to refuse
    assert anyone.post(_url(event, "draw/")).status_code == 405
    assert _redis_keys(event) == before
    assert not Draw.objects.exists()


def test_the_draw_order_is_reproducible_from_the_public_endpoints_and_is_the_queue_order(make_event, users, client_for):
    event = _prequeue_event(make_event, batch=100)
    anyone = APIClient()
    commitment = anyone.get(_url(event, "draw/")).json()["commitment"]  # noted before the first entry
    people = [client_for(u) for u in users(40)]
    entry_of = {i: c.post(_url(event)).json()["entry"] for i, c in enumerate(people)}

    _open(event)
    assert draws_run() == 1
    assert draws_run() == 0  # made once

    draw, recomputed = _public_order(anyone, event)
    entries = anyone.get(_url(event, "draw/entries/")).json()
    assert draw["state"] == "drawn"
    assert draw["commitment"] == commitment
    assert draw["algorithm"] == "sha256(seed||entry)"
    assert draw["entrants"] == 40
    assert draw["drawn_at"]
    assert entries == recomputed
    assert sorted(entries) == sorted(entry_of.values())
    assert entries != sorted(entries)  # random, not the entries' own order (1/40! to fail by chance)
    for i, person in enumerate(people):  # each person's place is their entry's place in the public list
        state = person.get(_url(event)).json()
        assert state["state"] == "waiting"
        assert state["entry"] == entry_of[i]
        assert state["position"] == entries.index(entry_of[i]) + 1

    gzipped = anyone.get(_url(event, "draw/entries/"), HTTP_ACCEPT_ENCODING="gzip")
    assert gzipped["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(gzipped.content)) == entries
    cached = anyone.get(_url(event, "draw/entries/"), HTTP_IF_NONE_MATCH=gzipped["ETag"])
    assert (cached.status_code, cached.content, cached["ETag"]) == (304, b"", gzipped["ETag"])
    assert "Content-Type" not in cached  # no body: nothing to describe


def test_the_draw_verify_command_checks_the_public_answers(make_event, users, client_for, capsys):
    from django.core.management import CommandError, call_command

    event = _prequeue_event(make_event)
    mine = [client_for(u).post(_url(event)).json()["entry"] for u in users(5)][2]
    with pytest.raises(CommandError, match="not been made"):
        call_command("draw_verify", str(event.id))
    _open(event)
    draws_run()
    call_command("draw_verify", str(event.id), "--entry", mine)
    out = capsys.readouterr().out
    assert "verified: 5 entries" in out
    assert f"{mine} is number" in out

    Draw.objects.filter(event=event).update(entries=gzip.compress(json.dumps(sorted([mine, "x", "y"])).encode()))
    with pytest.raises(CommandError, match="3 entries listed for 5 entrants"):
        call_command("draw_verify", str(event.id))


def test_nobody_who_joins_after_the_opening_is_ahead_of_an_entry(make_event, users, client_for):
    """Every entry waits at its drawn place from its join on; the first join
    after the opening makes the draw itself, before the beat, and joins
    behind every entry, as does a join through a process whose snapshot still
    says the pre-queue is open. Admission then takes every entry first."""
    event = _prequeue_event(make_event, batch=100, interval=1)
    early, late = users(12, prefix="early"), users(6, prefix="late")
    client = {u.id: client_for(u) for u in early + late}
    entry_of = {u.id: client[u.id].post(_url(event)).json()["entry"] for u in early}
    seed = bytes.fromhex(event.draw_seed)
    drawn = sorted(early, key=lambda u: hashlib.sha256(seed + entry_of[u.id].encode()).hexdigest())
    stale = event_sale_snapshot(event_id=event.id).prequeue  # the pre-queue as a lagging process still sees it

    def places_hold(late_joined: list[Any]) -> None:
        for place, person in enumerate(drawn, start=1):
            state = client[person.id].get(_url(event)).json()
            assert (state["state"], state["position"], state["entry"]) == ("waiting", place, entry_of[person.id])
        for place, person in enumerate(late_joined, start=len(early) + 1):
            assert client[person.id].get(_url(event)).json()["position"] == place

    _open(event)
    places_hold([])  # opened, the draw not made yet: each entry at its drawn place already
    assert store.store_draw_made(event_id=event.id) is None
    first_late = client[late[0].id].post(_url(event)).json()
    assert first_late["position"] == len(early) + 1 and "entry" not in first_late
    assert store.store_draw_made(event_id=event.id).entrants == len(early)  # that join made the draw
    lagging = store.store_join(
        event_id=event.id, user_id=late[1].id, now=time.time(), limit=99, window=60, prequeue=stale
    )
    assert (lagging.prequeue, lagging.rank) == (False, len(early) + 1)  # the draw closed the pre-queue
    places_hold(late[:2])
    assert draws_run() == 1  # the beat records the draw that join made
    for person in late[2:]:
        client[person.id].post(_url(event))
    places_hold(late)

    admitted = admission_round_run(event=event, now=time.time() + 5).result.admitted
    assert admitted == [u.id for u in drawn + late]


def test_an_opened_prequeue_can_be_moved_but_not_removed(make_event, staff_client_for):
    later = make_event(opens_in=3600, prequeue_minutes=30)  # not opened yet: may go
    later.prequeue_opens_at = None
    later.full_clean(exclude=["venue"])

    event = _prequeue_event(make_event)
    event.prequeue_opens_at = None
    with pytest.raises(ValidationError, match="can be moved, not removed"):
        event.full_clean(exclude=["venue"])
    event.refresh_from_db()
    event.prequeue_opens_at -= timedelta(minutes=5)
    event.full_clean(exclude=["venue"])

    page = staff_client_for().get(f"/admin/reservations/event/{event.id}/change/")
    assert page.status_code == 200
    assert event.draw_commitment in page.content.decode()  # the organizer sees the commitment, not the seed
    assert event.draw_seed not in page.content.decode()
