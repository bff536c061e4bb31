"""The queue's ASGI fast path: it answers exactly as the Django view does,
serves only what it can answer so, and hands everything else to Django.

Every request goes through real ASGI applications: ``QueueFastPath`` in
front of a recording stand-in (to see whether a request was served or
passed on) and Django's own ASGI handler for the comparison, over the real
PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.services import token_issue, token_revoke
from queue_app import selectors
from queue_app.challenge import Proof, zero_bits_lead
from queue_app.fastpath import QueueFastPath, queue_fast_path_wrap
from queue_app.services import admission_round_run, queue_challenge_issue, queue_join
from reservations.models import Event, Seat
from reservations.services import event_create
from ticketing.asgi import application, django_asgi_app

pytestmark = pytest.mark.django_db(transaction=True)

PASSED_ON = 599  # the stand-in's status: the fast path handed the request on


class Downstream:
    """Stands where Django sits behind the fast path, and counts what reaches it."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": PASSED_ON, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _call(app: Any, method: str, path: str, token: str | None = None, **headers: str) -> dict:
    raw = [(b"host", b"testserver")]
    if token is not None:
        raw.append((b"authorization", f"Token {token}".encode()))
    raw += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    communicator = HttpCommunicator(app, method, path, headers=raw)
    response = await communicator.get_response(timeout=5)
    await communicator.wait(timeout=5)  # let Django finish the request (signals, connection close)
    response["headers"] = {name.decode().lower(): value.decode() for name, value in response["headers"]}
    return response


@database_sync_to_async
def _event(**options: Any) -> Event:
    return event_create(
        name="Arena night", venue_name="Arena", sections=options.pop("sections", "A:3x10:R:100"), **options
    )


@database_sync_to_async
def _tokens(count: int, prefix: str = "fast") -> list[tuple[int, str]]:
    """Users with tokens, whose cache entries are warm (as after a login)."""
    from accounts.authentication import CachedTokenAuthentication

    people = []
    for i in range(count):
        user = get_user_model().objects.create_user(username=f"{prefix}{i}", password="pw-Secret-123")
        key = token_issue(user=user)
        CachedTokenAuthentication().authenticate_credentials(key.encode())
        people.append((user.id, key))
    return people


def _url(event_id: int) -> str:
    return f"/api/events/{event_id}/queue/"


async def _same_as_django(method: str, path: str, token: str, **headers: str) -> dict:
    """Send the request to Django, then to the fast path: both answers must
    agree in status, body and headers. Returns the fast path's answer."""
    downstream = Downstream()
    by_django = await _call(django_asgi_app, method, path, token, **headers)
    selectors.event_sale_snapshot_forget()  # both read the event afresh
    by_fast_path = await _call(QueueFastPath(downstream), method, path, token, **headers)
    assert downstream.calls == 0, "the fast path passed the request on"
    assert by_fast_path["status"] == by_django["status"]
    assert by_fast_path["body"] == by_django["body"]
    assert by_fast_path["headers"] == by_django["headers"]
    return by_fast_path


async def test_join_is_served_without_django_and_is_idempotent():
    event = await _event()
    (_, first), (_, second) = await _tokens(2)
    downstream = Downstream()
    fast = QueueFastPath(downstream)

    joined = await _call(fast, "POST", _url(event.id), first)
    again = await _call(fast, "POST", _url(event.id), first)
    behind = await _call(fast, "POST", _url(event.id), second)

    assert downstream.calls == 0
    assert (joined["status"], again["status"], behind["status"]) == (201, 200, 201)
    assert joined["body"] == (
        b'{"state":"waiting","position":1,"waiting_total":1,"eta_seconds":1,"likely_sold_out":false,'
        b'"admitted_until":null,"ws":"/ws/events/%d/queue/"}' % event.id
    )
    assert again["body"].startswith(b'{"state":"waiting","position":1,')
    assert behind["body"].startswith(b'{"state":"waiting","position":2,"waiting_total":2,')


async def test_join_and_state_answer_as_the_django_view_does():
    event = await _event(batch=1)
    (_, token), (_, other) = await _tokens(2)
    await _call(django_asgi_app, "POST", _url(event.id), other)

    await _call(QueueFastPath(Downstream()), "POST", _url(event.id), token)
    await _same_as_django("POST", _url(event.id), token)  # both read "already in"
    waiting = await _same_as_django("GET", _url(event.id), token)
    assert b'"position":2' in waiting["body"]

    await database_sync_to_async(admission_round_run)(
        event=await database_sync_to_async(Event.objects.get)(pk=event.id)
    )
    selectors.event_sale_snapshot_forget()
    admitted = await _same_as_django("GET", _url(event.id), other)
    assert b'"state":"admitted"' in admitted["body"]
    assert b'"state":"admitted"' in (await _same_as_django("POST", _url(event.id), other))["body"]


async def test_refusals_answer_as_the_django_view_does():
    ((_, token),) = await _tokens(1)
    later = await _event(opens_in=3600)
    not_open = await _same_as_django("POST", _url(later.id), token)
    assert (not_open["status"], b'"error":"sale_not_open"' in not_open["body"]) == (409, True)
    assert b'"opens_at":' in not_open["body"]

    sold = await _event(sections="A:1x2:R:100")
    await database_sync_to_async(lambda: Seat.objects.filter(event=sold).update(status=Seat.Status.SOLD))()
    assert b'"error":"sold_out"' in (await _same_as_django("POST", _url(sold.id), token))["body"]

    closed = await _event()
    await database_sync_to_async(lambda: Event.objects.filter(pk=closed.pk).update(status=Event.Status.CLOSED))()
    assert b'"error":"sale_closed"' in (await _same_as_django("POST", _url(closed.id), token))["body"]

    ended = await _event(sale_closes_at=timezone.now() + timedelta(seconds=1))
    await database_sync_to_async(
        lambda: Event.objects.filter(pk=ended.pk).update(
            sale_opens_at=timezone.now() - timedelta(hours=1), sale_closes_at=timezone.now() - timedelta(seconds=1)
        )
    )()
    assert b'"error":"sale_closed"' in (await _same_as_django("POST", _url(ended.id), token))["body"]

    missing = await _same_as_django("POST", _url(999_999), token)
    assert (missing["status"], missing["body"]) == (404, b'{"error":"not_found","detail":"No such event."}')
    assert (await _same_as_django("GET", _url(999_999), token))["status"] == 404
    assert (await _same_as_django("POST", _url(10**30), token))["status"] == 404  # past bigint


@pytest.mark.parametrize(
    ("headers", "korean"),
    [
        ({}, False),
        ({"accept_language": "ko"}, True),
        ({"accept_language": "ko-KR,ko;q=0.9,en-US;q=0.8"}, True),
        ({"accept_language": "fr-FR, en;q=0.1, ko;q=0.05"}, False),
        ({"accept_language": "ja, ko;q=0.5"}, True),
        ({"accept_language": "en", "cookie": "theme=dark; django_language=ko"}, True),  # the switcher's cookie
        ({"accept_language": "*"}, False),
    ],
)
async def test_answers_are_worded_and_marked_in_the_language_django_chooses(headers, korean):
    """Same bytes as Django for the same Accept-Language (and cookie): the
    detail in Korean or English, the code unchanged, Content-Language and
    Vary as LocaleMiddleware writes them, on errors and on success."""
    ((_, token),) = await _tokens(1)
    later = await _event(opens_in=3600)
    not_open = await _same_as_django("POST", _url(later.id), token, **headers)
    missing = await _same_as_django("GET", _url(999_999), token, **headers)
    open_event = await _event()
    await _call(django_asgi_app, "POST", _url(open_event.id), token)
    joined = await _same_as_django("GET", _url(open_event.id), token, **headers)
    language = "ko" if korean else "en"
    for answer in (not_open, missing, joined):
        assert (answer["headers"]["content-language"], answer["headers"]["vary"]) == (language, "Accept-Language")
    detail = {"ko": "그런 공연이 없습니다.", "en": "No such event."}[language]
    assert missing["body"] == b'{"error":"not_found","detail":"%s"}' % detail.encode()
    opening = {"ko": "아직 예매가 시작되지 않았습니다.", "en": "The sale has not opened yet."}[language]
    assert b'"error":"sale_not_open","detail":"%s"' % opening.encode() in not_open["body"]
    assert joined["status"] == 200 and b'"state":"waiting"' in joined["body"]


async def test_a_queue_free_event_admits_at_once_as_the_view_does():
    event = await _event(queue_enabled=False)
    ((_, token),) = await _tokens(1)
    joined = await _same_as_django("POST", _url(event.id), token)
    assert (joined["status"], b'"state":"admitted"' in joined["body"]) == (200, True)
    assert b'"state":"admitted"' in (await _same_as_django("GET", _url(event.id), token))["body"]


async def test_join_rate_limit_is_shared_with_the_view_and_answers_429(settings):
    settings.RATE_LIMIT_JOIN = "3/m"
    event = await _event()
    ((_, token),) = await _tokens(1)
    fast = QueueFastPath(Downstream())

    statuses = [(await _call(fast, "POST", _url(event.id), token))["status"] for _ in range(2)]
    statuses.append((await _call(django_asgi_app, "POST", _url(event.id), token))["status"])
    refused = await _call(fast, "POST", _url(event.id), token)

    assert statuses == [201, 200, 200]
    assert refused["status"] == 429
    assert refused["body"].startswith(b'{"error":"rate_limited",')
    assert 1 <= int(refused["headers"]["retry-after"]) <= 60


async def test_queue_free_event_joins_count_against_the_same_limit(settings):
    settings.RATE_LIMIT_JOIN = "2/m"
    event = await _event(queue_enabled=False)
    ((_, token),) = await _tokens(1)
    fast = QueueFastPath(Downstream())
    statuses = [(await _call(fast, "POST", _url(event.id), token))["status"] for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("method", "path", "token", "headers"),
    [
        ("DELETE", "queue", "cached", {}),
        ("HEAD", "queue", "cached", {}),
        ("POST", "other", "cached", {}),
        ("POST", "queue", None, {}),
        ("POST", "queue", "cached", {"host": "evil.example"}),
        ("POST", "queue", "cached", {"accept": "text/html"}),
        ("POST", "queue", "malformed", {}),
        ("POST", "queue", "unknown", {}),
    ],
    ids=["delete", "head", "other-path", "no-token", "foreign-host", "html-only", "malformed-token", "unknown-token"],
)
async def test_what_the_fast_path_cannot_answer_goes_to_django(method, path, token, headers):
    event = await _event()
    ((_, cached),) = await _tokens(1)
    unknown = "0" * len(cached)  # no such token: Django's 401
    key = {"cached": cached, "unknown": unknown, "malformed": f"{cached} extra", None: None}[token]
    url = _url(event.id) if path == "queue" else f"/api/events/{event.id}/seats/"
    downstream = Downstream()

    response = await _call(QueueFastPath(downstream), method, url, key, **headers)

    assert (downstream.calls, response["status"]) == (1, PASSED_ON)


async def test_a_challenge_event_answers_as_the_view_and_a_join_with_a_body_goes_to_django():
    event = await _event(challenge_bits=8)
    ((_, token),) = await _tokens(1)
    refused = await _same_as_django("POST", _url(event.id), token)
    assert refused["status"] == 403 and b'"challenge_required"' in refused["body"]
    downstream = Downstream()
    raw = [(b"host", b"testserver"), (b"authorization", f"Token {token}".encode())]
    raw.append((b"content-type", b"application/json"))
    communicator = HttpCommunicator(
        QueueFastPath(downstream), "POST", _url(event.id), body=b'{"challenge": "c", "nonce": "n"}', headers=raw
    )
    assert (await communicator.get_response(timeout=5))["status"] == PASSED_ON
    assert downstream.calls == 1  # the view checks the answer


def _without(body: bytes, *fields: str) -> dict:
    """The JSON body without the fields that differ between two people."""
    data = json.loads(body)
    return {key: value for key, value in data.items() if key not in fields}


@database_sync_to_async
def _open(event: Event) -> None:
    """The sale's opening passes (the organizer's clock, not a sleep)."""
    now = timezone.now()
    Event.objects.filter(pk=event.pk).update(
        prequeue_opens_at=now - timedelta(minutes=30), sale_opens_at=now - timedelta(seconds=1)
    )


async def test_prequeue_joins_and_reads_answer_as_the_django_view_does():
    event = await _event(opens_in=3600, prequeue_minutes=70)
    (_, by_view), (_, by_fast), (_, late_view), (_, late_fast) = await _tokens(4)

    first = await _call(django_asgi_app, "POST", _url(event.id), by_view)
    selectors.event_sale_snapshot_forget()
    second = await _call(QueueFastPath(Downstream()), "POST", _url(event.id), by_fast)
    assert (first["status"], second["status"]) == (201, 201)
    assert first["headers"] == second["headers"]
    assert _without(first["body"], "entry", "waiting_total") == _without(second["body"], "entry", "waiting_total")
    assert json.loads(second["body"])["state"] == "pre_queue"
    again = await _same_as_django("POST", _url(event.id), by_fast)  # both read "already in", the same entry
    assert json.loads(again["body"]) == {**json.loads(second["body"]), "waiting_total": 2}
    await _same_as_django("GET", _url(event.id), by_view)
    await _same_as_django("GET", _url(event.id), late_view)  # not in the pre-queue

    early = await _event(opens_in=3600, prequeue_minutes=10)
    refused = await _same_as_django("POST", _url(early.id), by_view)
    assert refused["status"] == 409 and b'"error":"sale_not_open"' in refused["body"]

    await _open(event)
    selectors.event_sale_snapshot_forget()
    opened = await _call(QueueFastPath(Downstream()), "POST", _url(event.id), late_fast)  # starts the draw
    selectors.event_sale_snapshot_forget()
    behind = await _call(django_asgi_app, "POST", _url(event.id), late_view)
    assert json.loads(opened["body"])["position"] == 3 and json.loads(behind["body"])["position"] == 4
    differing = ("position", "waiting_total", "eta_seconds")
    assert _without(opened["body"], *differing) == _without(behind["body"], *differing)
    for token in (by_view, by_fast, late_view, late_fast):
        await _same_as_django("GET", _url(event.id), token)
        await _same_as_django("POST", _url(event.id), token)


async def test_a_challenge_prequeue_asks_a_newcomer_on_both_paths_and_lets_an_entry_rejoin():
    event = await _event(opens_in=3600, prequeue_minutes=70, challenge_bits=8)
    (user_id, entrant), (_, newcomer) = await _tokens(2)
    refused = await _same_as_django("POST", _url(event.id), newcomer)
    assert refused["status"] == 403 and b'"challenge_required"' in refused["body"]
    await database_sync_to_async(queue_join)(event_id=event.id, user_id=user_id, proof=await _proof(event, user_id))
    rejoined = await _same_as_django("POST", _url(event.id), entrant)
    assert rejoined["status"] == 200 and b'"state":"pre_queue"' in rejoined["body"]


@database_sync_to_async
def _proof(event: Event, user_id: int) -> Proof:
    """A solved join challenge (8 bits: a few hundred hashes)."""
    issued = queue_challenge_issue(event_id=event.id, user_id=user_id)
    nonce = next(
        str(n)
        for n in itertools.count()
        if zero_bits_lead(hashlib.sha256((issued["challenge"] + str(n)).encode()).digest(), issued["difficulty"])
    )
    return Proof(challenge=issued["challenge"], nonce=nonce)


async def test_plain_http_goes_to_django_when_https_is_required(settings):
    settings.SECURE_SSL_REDIRECT = True
    event = await _event()
    ((_, token),) = await _tokens(1)
    downstream = Downstream()
    fast = QueueFastPath(downstream)

    assert (await _call(fast, "POST", _url(event.id), token))["status"] == PASSED_ON
    served = await _call(fast, "POST", _url(event.id), token, x_forwarded_proto="https")
    assert (downstream.calls, served["status"]) == (1, 201)


async def test_an_uncached_token_is_read_from_postgresql_on_the_fast_path_as_django_would():
    """A shopper's first join with a token not yet in the cache (issued
    elsewhere, or the cache flushed) is served on the event loop: in an
    on-sale every shopper's first request is one, and sending them all to
    Django put the joins behind its threads (bench/onsale.py: join p50 9 s)."""
    event = await _event()
    people = await database_sync_to_async(
        lambda: [token_issue(user=get_user_model().objects.create_user(username=f"late{i}")) for i in range(2)]
    )()
    downstream = Downstream()
    by_fast = await _call(QueueFastPath(downstream), "POST", _url(event.id), people[0])
    by_django = await _call(django_asgi_app, "POST", _url(event.id), people[1])
    assert (by_fast["status"], by_django["status"], downstream.calls) == (201, 201, 0)
    assert by_fast["body"].startswith(b'{"state":"waiting","position":1,"waiting_total":1,')
    assert by_django["body"].startswith(b'{"state":"waiting","position":2,"waiting_total":2,')
    assert by_fast["headers"] == by_django["headers"]
    again = await _call(QueueFastPath(downstream), "POST", _url(event.id), people[0])  # the cache is filled now
    assert (again["status"], downstream.calls) == (200, 0)


async def test_a_deleted_token_stops_at_once_on_the_fast_path():
    event = await _event()
    ((_, token),) = await _tokens(1)
    assert (await _call(application, "POST", _url(event.id), token))["status"] == 201

    await database_sync_to_async(lambda: token_revoke(token=token))()

    response = await _call(application, "POST", _url(event.id), token)
    assert response["status"] == 401
    assert response["body"].startswith(b'{"error":"authentication_failed",')


async def test_concurrent_fast_joins_get_distinct_places_and_share_one_snapshot_read(monkeypatch):
    event = await _event()
    people = await _tokens(60)
    reads = []
    real_read = selectors._snapshot_read
    monkeypatch.setattr(selectors, "_snapshot_read", lambda event_id: reads.append(event_id) or real_read(event_id))
    fast = QueueFastPath(Downstream())

    responses = await asyncio.gather(*(_call(fast, "POST", _url(event.id), token) for _, token in people))

    assert [r["status"] for r in responses] == [201] * len(people)
    positions = sorted(int(r["body"].split(b'"position":')[1].split(b",")[0]) for r in responses)
    assert positions == list(range(1, len(people) + 1))
    assert reads == [event.id]  # one snapshot read for the whole burst, not one per request


def test_the_fast_path_can_be_switched_off(settings):
    settings.QUEUE_FAST_PATH = False
    assert queue_fast_path_wrap(django_asgi_app) is django_asgi_app
    settings.QUEUE_FAST_PATH = True
    assert isinstance(queue_fast_path_wrap(django_asgi_app), QueueFastPath)
