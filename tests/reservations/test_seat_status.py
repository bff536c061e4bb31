"""Stadium-size seat maps: the layout (built once, strong ETag, 304, gzip,
open to all) and the status snapshot (one character per seat, versioned,
``?since=`` answering 304 or exactly the seats that changed)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from rest_framework.test import APIClient

from reservations.holds import hold_create, hold_release
from reservations.models import Hold, PriceGrade, Seat
from reservations.seat_status import snapshot_get, snapshot_get_async
from tests.reservations.conftest import admit, client_for, seat_ids

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_snapshots(settings):
    """Every read sees the latest writes (the sharing itself has its own test)."""
    settings.SEAT_STATUS_MAX_AGE_SECONDS = 0


def _layout(event_id: int, client: APIClient | None = None, **headers: str):
    return (client or APIClient()).get(f"/api/events/{event_id}/seats/layout/", **headers)


def _status(client: APIClient, event_id: int, since: object = None):
    query = "" if since is None else f"?since={since}"
    return client.get(f"/api/events/{event_id}/seats/status/{query}")


def test_the_layout_is_open_to_all_with_a_strong_etag_a_304_and_gzip(event):
    response = _layout(event.id)
    assert response.status_code == 200
    body = json.loads(response.content)
    ids = seat_ids(event)
    assert [s["id"] for s in body["seats"]] == sorted(ids)
    assert set(body["seats"][0]) == {"id", "section", "row", "number", "grade", "price"}  # never a status
    etag = response["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "public" in response["Cache-Control"] and "max-age" in response["Cache-Control"]

    again = _layout(event.id, HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)

    packed = _layout(event.id, HTTP_ACCEPT_ENCODING="gzip, br")
    assert packed["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed["Vary"]
    assert gzip.decompress(packed.content) == response.content
    assert len(packed.content) < len(response.content) / 3


def test_a_price_change_gives_the_layout_a_new_tag(event):
    before = _layout(event.id)
    grade = PriceGrade.objects.filter(event=event).first()
    grade.price += 1000
    grade.save()
    after = _layout(event.id, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and after["ETag"] != before["ETag"]
    assert json.loads(after.content)["version"] != json.loads(before.content)["version"]


def test_the_status_is_one_character_per_seat_in_layout_order(event, user):
    client = client_for(user)
    ids = sorted(seat_ids(event))
    hold_create(event=event, user_id=user.id, seat_ids=[ids[3]], quantity=None, grade=None)
    body = _status(client, event.id).json()
    assert len(body["statuses"]) == len(ids) and set(body["statuses"]) <= set("ahs")
    assert body["statuses"][3] == "h" and body["statuses"].count("h") == 1
    assert isinstance(body["version"], int)


def test_since_answers_exactly_the_seats_that_changed_a_lapsed_hold_and_a_release_included(make_event, user, make_user):
    event = make_event(sections="A:10x30:R:1000")  # 300 seats: three changes are shorter than the full form
    client = client_for(user)
    other = make_user("other")
    ids = sorted(seat_ids(event))
    lapsing = hold_create(event=event, user_id=user.id, seat_ids=[ids[0]], quantity=None, grade=None)
    released = hold_create(event=event, user_id=other.id, seat_ids=[ids[1]], quantity=None, grade=None)
    start = _status(client, event.id).json()["version"]
    assert _status(client, event.id, since=start).status_code == 304  # nothing changed

    past = timezone.now() - timedelta(seconds=1)
    Hold.objects.filter(pk=lapsing.id).update(expires_at=past)  # lapsed; the sweeper has not run
    Seat.objects.filter(pk=ids[0]).update(held_until=past)
    hold_release(hold_id=released.id, user_id=other.id)
    hold_create(event=event, user_id=other.id, seat_ids=[ids[5]], quantity=None, grade=None)

    changed = _status(client, event.id, since=start).json()
    assert changed["version"] > start
    assert changed["changes"] == [[ids[0], "available"], [ids[1], "available"], [ids[5], "held"]]
    assert _status(client, event.id, since=changed["version"]).status_code == 304
    small = _status(client, event.id, since=start).json()
    assert small == changed  # the same question, the same answer


def test_changes_longer_than_the_full_form_get_the_full_form(event, user):
    client = client_for(user)  # 20 seats: 3 changes as JSON are longer than 20 characters
    start = _status(client, event.id).json()["version"]
    for seat in sorted(seat_ids(event))[:2]:
        hold_create(event=event, user_id=user.id, seat_ids=[seat], quantity=None, grade=None)
    body = _status(client, event.id, since=start).json()
    assert set(body) == {"version", "statuses"} and body["statuses"][:2] == "hh"


def test_a_since_the_server_does_not_know_gets_the_full_form(event, user):
    client = client_for(user)
    current = _status(client, event.id).json()["version"]
    for since in (0, current - 1, current + 10**6, 9_999_999_999_999_999_999):
        body = _status(client, event.id, since=since).json()
        assert set(body) == {"version", "statuses"}, since


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "1e3", "", "\uff11\uff12", "9" * 20, "0x10"])
def test_a_malformed_since_is_400_invalid(event, user, since):
    response = client_for(user).get(f"/api/events/{event.id}/seats/status/", {"since": since})
    assert response.status_code == 400 and response.json()["error"] == "invalid"


def test_status_is_for_admitted_shoppers_on_queued_events_and_layout_for_all(make_event, user):
    queued = make_event(queue_enabled=True)
    client = client_for(user)
    refused = _status(client, queued.id)
    assert (refused.status_code, refused.json()["error"]) == (403, "not_admitted")
    assert _status(APIClient(), queued.id).status_code == 401
    assert _layout(queued.id).status_code == 200
    admit(queued, user.id)
    assert _status(client, queued.id).status_code == 200
    assert _layout(999_999_999).status_code == 404


@pytest.mark.parametrize("single_flight", [False, True])
def test_readers_of_a_stale_snapshot_share_one_build(make_event, settings, single_flight):
    """Sixteen readers on one event loop, as the fast path's are: each has read
    the stale snapshot before the first build's query returns, so without the
    lock every one of them builds (threads meeting at a barrier did not always
    meet: on a loaded machine the first build finished before the others read)."""
    event = make_event(sections="A:100x100:R:1000")
    settings.SEAT_STATUS_SINGLE_FLIGHT = single_flight
    settings.SEAT_STATUS_MAX_AGE_SECONDS = 0.5
    old = snapshot_get(event_id=event.id).built_at
    time.sleep(0.6)  # stale for everyone now

    async def read_together() -> list[float]:
        snapshots = await asyncio.gather(*(snapshot_get_async(event_id=event.id) for _ in range(16)))
        return [snapshot.built_at for snapshot in snapshots]

    built = async_to_sync(read_together)()
    assert len(built) == 16
    if not single_flight:
        assert len(set(built) - {old}) == 16, "without the lock every stale reader should build"
        return
    # One reader takes the build lock; the others share the snapshot they
    # found (the old one): one build, not sixteen.
    assert len(set(built) - {old}) == 1


def _fast_path_recording() -> tuple[Any, list[str]]:
    """The booking fast path in front of a stand-in for Django that records
    the paths handed on to it (and answers 599)."""
    from reservations.fastpath import BookingFastPath

    passed_on: list[str] = []

    async def downstream(scope, receive, send):
        passed_on.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return BookingFastPath(downstream), passed_on


async def _asgi_get(app, path: str, token: str | None, query: bytes = b"", **headers: str) -> dict:
    from channels.testing import HttpCommunicator

    raw = [(b"host", b"testserver")]
    if token is not None:
        raw.append((b"authorization", f"Token {token}".encode()))
    raw += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    communicator = HttpCommunicator(app, "GET", path, headers=raw)
    communicator.scope["query_string"] = query
    response = await communicator.get_response(timeout=10)
    await communicator.wait(timeout=10)
    response["headers"] = {n.decode().lower(): v.decode() for n, v in response["headers"]}
    return response


async def test_the_fast_path_answers_the_status_read_as_the_view_does(make_event, make_user):
    from asgiref.sync import sync_to_async

    from accounts.services import token_issue
    from ticketing.asgi import django_asgi_app

    event = await sync_to_async(make_event)(sections="A:10x30:R:1000")
    person = await sync_to_async(make_user)("viewer")
    token = await sync_to_async(lambda: token_issue(user=person))()
    ids = sorted(await sync_to_async(seat_ids)(event))
    path = f"/api/events/{event.id}/seats/status/"
    fast, passed_on = _fast_path_recording()
    first = await _asgi_get(fast, path, token, accept_encoding="gzip")
    assert passed_on == [] and first["status"] == 200
    version = json.loads(gzip.decompress(first["body"]))["version"]
    await sync_to_async(hold_create)(event=event, user_id=person.id, seat_ids=[ids[7]], quantity=None, grade=None)
    readings = (
        (b"", "gzip", "ko"),
        (b"", "identity", "en"),
        (f"since={version}".encode(), "gzip", "ko-KR"),
        (b"since=0", "", ""),
    )
    for query, encoding, language in readings:
        by_fast = await _asgi_get(fast, path, token, query, accept_encoding=encoding, accept_language=language)
        by_django = await _asgi_get(
            django_asgi_app, path, token, query, accept_encoding=encoding, accept_language=language
        )
        assert passed_on == []
        assert (by_fast["status"], by_fast["body"]) == (by_django["status"], by_django["body"]), query
        for name in ("content-encoding", "cache-control", "content-type", "vary", "allow", "content-language"):
            assert by_fast["headers"].get(name) == by_django["headers"].get(name), (name, query)
    refused = f"/api/events/{event.id + 1000}/seats/status/"
    by_fast = await _asgi_get(fast, refused, token, accept_language="ko")
    by_django = await _asgi_get(django_asgi_app, refused, token, accept_language="ko")
    assert (by_fast["status"], by_fast["body"]) == (by_django["status"], by_django["body"])
    assert json.loads(by_fast["body"]) == {"error": "not_found", "detail": "그런 공연이 없습니다."}
    assert by_fast["headers"]["content-language"] == by_django["headers"]["content-language"] == "ko"
    latest = json.loads((await _asgi_get(fast, path, token))["body"])["version"]
    assert (await _asgi_get(fast, path, token, f"since={latest}".encode()))["status"] == 304
    assert (await _asgi_get(fast, path, token, b"since=-1"))["status"] == 599  # Django's 400 to give


async def test_the_fast_path_answers_the_layout_read_as_the_view_does(make_event, make_user):
    """Status, bytes and every header alike (the request id aside), for
    tokens or none, gzip or not, each language, a matching and a stale
    ``If-None-Match``, and the event's 404; a cookie or a query string goes
    to Django."""
    from asgiref.sync import sync_to_async

    from accounts.services import token_issue
    from ticketing.asgi import django_asgi_app

    event = await sync_to_async(make_event)(sections="A:10x30:R:1000")
    person = await sync_to_async(make_user)("layout-viewer")
    token = await sync_to_async(lambda: token_issue(user=person))()
    path = f"/api/events/{event.id}/seats/layout/"
    fast, passed_on = _fast_path_recording()
    etag = (await _asgi_get(fast, path, None))["headers"]["etag"]
    readings = (
        (None, {"accept_encoding": "gzip"}),
        (token, {"accept_encoding": "gzip, br", "accept_language": "ko"}),
        (None, {"accept_encoding": "identity", "accept_language": "en-US,en;q=0.8"}),
        (token, {"if_none_match": etag}),
        (None, {"if_none_match": f'"stale", {etag}', "accept_language": "ko-KR"}),
        (None, {"if_none_match": '"stale"', "accept_encoding": "gzip"}),
    )
    for who, headers in readings:
        by_fast = await _asgi_get(fast, path, who, **headers)
        by_django = await _asgi_get(django_asgi_app, path, who, **headers)
        assert passed_on == [], headers
        assert (by_fast["status"], by_fast["body"]) == (by_django["status"], by_django["body"]), headers
        assert {k: v for k, v in by_fast["headers"].items() if k != "x-request-id"} == {
            k: v for k, v in by_django["headers"].items() if k != "x-request-id"
        }, headers
    assert [r["status"] for r in [await _asgi_get(fast, path, None, if_none_match=etag)]] == [304]
    plain = json.loads((await _asgi_get(fast, path, None))["body"])
    assert [s["id"] for s in plain["seats"]] == sorted(await sync_to_async(seat_ids)(event))

    missing = f"/api/events/{event.id + 1000}/seats/layout/"
    by_fast = await _asgi_get(fast, missing, None, accept_language="ko")
    by_django = await _asgi_get(django_asgi_app, missing, None, accept_language="ko")
    assert (by_fast["status"], by_fast["body"]) == (by_django["status"], by_django["body"])
    assert json.loads(by_fast["body"]) == {"error": "not_found", "detail": "그런 공연이 없습니다."}
    assert {k: v for k, v in by_fast["headers"].items() if k != "x-request-id"} == {
        k: v for k, v in by_django["headers"].items() if k != "x-request-id"
    }
    assert passed_on == []
    assert (await _asgi_get(fast, path, None, b"format=json"))["status"] == 599
    assert (await _asgi_get(fast, path, None, cookie="sessionid=x"))["status"] == 599
    assert passed_on == [path, path]


def test_a_since_older_than_the_recent_versions_still_gets_every_change(make_event, user):
    from reservations.seat_status import RECENT_VERSIONS

    event = make_event(sections="A:10x30:R:1000", max_per_user=20)
    client = client_for(user)
    ids = sorted(seat_ids(event))
    start = _status(client, event.id).json()["version"]
    for seat in ids[: RECENT_VERSIONS + 4]:  # one version per hold: more than the recent ones
        hold_create(event=event, user_id=user.id, seat_ids=[seat], quantity=None, grade=None)
        _status(client, event.id)
    body = _status(client, event.id, since=start).json()
    assert body["changes"] == [[seat, "held"] for seat in ids[: RECENT_VERSIONS + 4]]
