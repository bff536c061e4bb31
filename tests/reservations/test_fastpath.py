"""The booking fast path answers holds and checkouts exactly as the Django
views do, serves only what it can answer so, and hands the rest to Django.

Every request goes through real ASGI applications over the real PostgreSQL
and Redis: ``BookingFastPath`` in front of a recording stand-in (to see
whether a request was served or passed on) against Django's own ASGI
handler. Writes cannot be sent twice, so each comparison makes the same
situation twice (two people, two seats) and compares the answers with ids
and times taken out.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from django.contrib.auth import get_user_model
from django.test import override_settings

from accounts.services import token_issue
from accounts.tokens import token_cached
from queue_app.admission import admission_is_active
from reservations.checkout import AFTER_SALE_BATCH_SECONDS
from reservations.fastpath import BookingFastPath
from reservations.models import Event, Hold, Order, Payment, Seat
from reservations.payments import TestGateway
from reservations.selectors import event_cache_forget
from reservations.services import event_create
from tests.reservations.conftest import admit
from ticketing.asgi import django_asgi_app

pytestmark = pytest.mark.django_db(transaction=True)

PASSED_ON = 599  # the stand-in's status: the fast path handed the request on
VARYING = {"id", "hold", "order", "code", "created_at", "expires_at", "event", "number"}  # differ between two people


class Downstream:
    """Stands where Django sits behind the fast path; records what reaches it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": PASSED_ON, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _call(app: Any, path: str, token: str | None, body: Any, **headers: str) -> dict:
    raw = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    if token is not None:
        raw.append((b"authorization", f"Token {token}".encode()))
    raw += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    raw.append((b"content-length", str(len(data)).encode()))
    communicator = HttpCommunicator(app, "POST", path, body=data, headers=raw)
    response = await communicator.get_response(timeout=10)
    await communicator.wait(timeout=5)
    response["headers"] = {name.decode().lower(): value.decode() for name, value in response["headers"]}
    return response


def _shape(value: Any) -> Any:
    """The answer with ids, codes and times taken out (they differ between two people)."""
    if isinstance(value, dict):
        return {k: ("*" if k in VARYING else _shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def _same(by_django: dict, by_fast_path: dict) -> None:
    assert by_fast_path["status"] == by_django["status"], (by_django, by_fast_path)
    assert _shape(json.loads(by_fast_path["body"])) == _shape(json.loads(by_django["body"]))
    drop = {"content-length"}
    assert {k: v for k, v in by_fast_path["headers"].items() if k not in drop} == {
        k: v for k, v in by_django["headers"].items() if k not in drop
    }


@database_sync_to_async
def _event(**options: Any) -> Event:
    options.setdefault("queue_enabled", False)
    return event_create(
        name="Hall", venue_name="Hall", sections=options.pop("sections", "A:1x6:R:1000"), max_per_user=2, **options
    )


@database_sync_to_async
def _people(count: int, *, warm: bool = True) -> list[tuple[int, str]]:
    """Users with API tokens; ``warm``: the token cache already knows them (as after a first request)."""
    from accounts.authentication import CachedTokenAuthentication

    people = []
    for _ in range(count):
        n = get_user_model().objects.count()
        user = get_user_model().objects.create_user(username=f"fp{n}", password="pw-Secret-123", email=f"fp{n}@x.kr")
        key = token_issue(user=user)
        if warm:
            CachedTokenAuthentication().authenticate_credentials(key.encode())
        people.append((user.id, key))
    return people


@database_sync_to_async
def _seats(event: Event) -> list[int]:
    return list(Seat.objects.filter(event=event).order_by("id").values_list("id", flat=True))


def _holds(event_id: int) -> str:
    return f"/api/events/{event_id}/holds/"


def _checkout(hold_id: int) -> str:
    return f"/api/holds/{hold_id}/checkout/"


async def _both(path_for: Any, a: tuple, b: tuple, body_for: Any, **headers: str) -> tuple[dict, dict, Downstream]:
    """Person ``a`` through Django, person ``b`` through the fast path."""
    downstream = Downstream()
    by_django = await _call(django_asgi_app, path_for(a), a[1], body_for(a), **headers)
    by_fast = await _call(BookingFastPath(downstream), path_for(b), b[1], body_for(b), **headers)
    return by_django, by_fast, downstream


async def test_a_hold_and_its_checkout_answer_as_the_views_do():
    event = await _event()
    s = await _seats(event)
    a, b = await _people(2)
    seat_of = {a[0]: s[0], b[0]: s[1]}
    django_hold, fast_hold, downstream = await _both(
        lambda p: _holds(event.id), a, b, lambda p: {"seat_ids": [seat_of[p[0]]]}
    )
    assert downstream.bodies == []
    _same(django_hold, fast_hold)
    assert fast_hold["status"] == 201
    holds = {a[0]: json.loads(django_hold["body"])["id"], b[0]: json.loads(fast_hold["body"])["id"]}

    django_paid, fast_paid, downstream = await _both(
        lambda p: _checkout(holds[p[0]]), a, b, lambda p: {"payment_token": "tok_ok"}, idempotency_key="k-1"
    )
    assert downstream.bodies == []
    _same(django_paid, fast_paid)
    order = json.loads(fast_paid["body"])
    assert fast_paid["status"] == 201 and order["tickets"][0]["seat"]["id"] == s[1]
    stored = await database_sync_to_async(
        lambda: (Order.objects.get(pk=order["id"]).total, Seat.objects.get(pk=s[1]).status)
    )()
    assert stored == (1000, "sold")
    # The replay of a paid key is Django's to answer (200, the same order); nothing is charged twice.
    replay = await _call(
        BookingFastPath(django_asgi_app),
        _checkout(holds[b[0]]),
        b[1],
        {"payment_token": "tok_ok"},
        idempotency_key="k-1",
    )
    assert replay["status"] == 200 and json.loads(replay["body"])["id"] == order["id"]
    assert len(await database_sync_to_async(TestGateway.charges)()) == 2


async def test_best_available_answers_as_the_view_does():
    event = await _event(sections="A:2x6:R:1000")
    a, b = await _people(2)
    by_django, by_fast, downstream = await _both(
        lambda p: _holds(event.id), a, b, lambda p: {"quantity": 2, "grade": "R"}
    )
    assert downstream.bodies == []
    _same(by_django, by_fast)
    seats = json.loads(by_fast["body"])["seats"]
    assert by_fast["status"] == 201 and [s["number"] for s in seats] == [3, 4]  # the next adjacent pair
    for body, code in (({"quantity": 2, "grade": "ZZ"}, "invalid"), ({"quantity": 0, "grade": "R"}, "invalid")):
        by_django, by_fast, _ = await _both(lambda p: _holds(event.id), a, b, lambda p, body=body: body)
        _same(by_django, by_fast)
        assert json.loads(by_fast["body"])["error"] == code
    by_django, by_fast, _ = await _both(lambda p: _holds(event.id), a, b, lambda p: {"quantity": 9, "grade": "R"})
    _same(by_django, by_fast)
    assert json.loads(by_fast["body"])["error"] == "limit_exceeded"


async def test_hold_refusals_answer_as_the_view_does(settings):
    event = await _event()
    s = await _seats(event)
    a, b, taker = await _people(3)
    await _call(django_asgi_app, _holds(event.id), taker[1], {"seat_ids": [s[5]]})
    cases = [
        ({"seat_ids": [s[5]]}, 409, "seat_unavailable"),
        ({"seat_ids": [s[0], s[1], s[2]]}, 409, "limit_exceeded"),
        ({"seat_ids": [10**12]}, 400, "invalid"),
        ({"seat_ids": [s[0], s[0]]}, 400, "invalid"),
        ({"seat_ids": []}, 400, "invalid"),
        ({"seat_ids": [2**70]}, 400, "invalid"),
    ]
    for body, status, code in cases:
        by_django, by_fast, downstream = await _both(lambda p: _holds(event.id), a, b, lambda p, body=body: body)
        assert downstream.bodies == []
        _same(by_django, by_fast)
        assert (by_fast["status"], json.loads(by_fast["body"])["error"]) == (status, code)
    missing, *_ = await _both(lambda p: "/api/events/999999/holds/", a, b, lambda p: {"seat_ids": [1]})
    assert missing["status"] == 404
    _same(*(await _both(lambda p: "/api/events/999999/holds/", a, b, lambda p: {"seat_ids": [1]}))[:2])

    queued = await _event(queue_enabled=True)
    by_django, by_fast, _ = await _both(lambda p: _holds(queued.id), a, b, lambda p: {"seat_ids": [1]})
    _same(by_django, by_fast)
    assert json.loads(by_fast["body"])["error"] == "not_admitted"

    closed = await _event()
    await database_sync_to_async(lambda: Event.objects.filter(pk=closed.pk).update(status=Event.Status.CLOSED))()
    event_cache_forget(event_id=closed.id)
    by_django, by_fast, _ = await _both(lambda p: _holds(closed.id), a, b, lambda p: {"seat_ids": [1]})
    _same(by_django, by_fast)
    assert json.loads(by_fast["body"])["error"] == "sale_closed"

    settings.RATE_LIMIT_HOLD = "2/m"
    ((_, fresh),) = await _people(1)
    fast = BookingFastPath(Downstream())
    statuses = [(await _call(fast, _holds(event.id), fresh, {"seat_ids": [s[5]]}))["status"] for _ in range(2)]
    refused = await _call(fast, _holds(event.id), fresh, {"seat_ids": [s[5]]})
    assert statuses == [409, 409]  # counted, then refused for the taken seat
    assert refused["status"] == 429 and json.loads(refused["body"])["error"] == "rate_limited"
    assert 1 <= int(refused["headers"]["retry-after"]) <= 60


@pytest.mark.parametrize("accept_language", ["ko", "ko-KR,ko;q=0.9,en;q=0.8", "en-GB", "de, ko;q=0.3"])
async def test_answers_are_worded_and_marked_in_the_language_django_chooses(accept_language):
    """Holds and checkouts, refused and made: the same bytes as the views
    for the same Accept-Language, the detail in that language."""
    event = await _event()
    s = await _seats(event)
    a, b, taker = await _people(3)
    await _call(django_asgi_app, _holds(event.id), taker[1], {"seat_ids": [s[5]]})
    korean = accept_language.startswith("ko") or "ko;" in accept_language
    cases = [
        ({"seat_ids": [s[5]]}, "seat_unavailable", "일부 좌석은 더 이상 선택할 수 없습니다."),
        (
            {"seat_ids": [s[0], s[1], s[2]]},
            "limit_exceeded",
            "이 공연은 1인당 최대 2석까지 선점하고 구매할 수 있습니다.",
        ),
        ({"quantity": 1, "grade": "ZZ"}, "invalid", "이 공연에는 'ZZ' 등급이 없습니다."),
        ({"seat_ids": [s[0], s[0]]}, "invalid", "seat_ids에 중복된 값이 있습니다."),
    ]
    for body, code, in_korean in cases:
        by_django, by_fast, downstream = await _both(
            lambda p: _holds(event.id), a, b, lambda p, body=body: body, accept_language=accept_language
        )
        assert downstream.bodies == []
        _same(by_django, by_fast)
        answer = json.loads(by_fast["body"])
        assert answer["error"] == code
        assert (answer["detail"] == in_korean) is korean, answer
        assert by_fast["headers"]["content-language"] == ("ko" if korean else "en")
    seat_of = {a[0]: s[2], b[0]: s[3]}
    by_django, by_fast, _ = await _both(
        lambda p: _holds(event.id), a, b, lambda p: {"seat_ids": [seat_of[p[0]]]}, accept_language=accept_language
    )
    _same(by_django, by_fast)
    assert by_fast["status"] == 201 and by_fast["headers"]["vary"] == "Accept-Language"
    holds = {a[0]: json.loads(by_django["body"])["id"], b[0]: json.loads(by_fast["body"])["id"]}
    by_django, by_fast, _ = await _both(
        lambda p: _checkout(holds[p[0]]),
        a,
        b,
        lambda p: {"payment_token": "tok_declined"},
        idempotency_key="k-lang",
        accept_language=accept_language,
    )
    _same(by_django, by_fast)
    declined = json.loads(by_fast["body"])
    assert declined["error"] == "payment_declined"
    assert (declined["detail"] == "결제가 거절되었습니다. 선점 시간이 끝날 때까지 좌석은 유지됩니다.") is korean


async def test_an_admitted_shopper_of_a_queued_event_is_served():
    event = await _event(queue_enabled=True)
    s = await _seats(event)
    ((user_id, token),) = await _people(1)
    await database_sync_to_async(admit)(event, user_id)
    held = await _call(BookingFastPath(Downstream()), _holds(event.id), token, {"seat_ids": [s[0]]})
    assert held["status"] == 201


async def test_sales_on_the_event_loop_give_every_buyers_place_back_within_a_tick():
    """``order_paid`` goes out after the answer, for a tick's sales together
    (``after_sale_async``): each buyer's admission ends within it."""
    event = await _event(queue_enabled=True)
    s = await _seats(event)
    people = await _people(3)
    fast = BookingFastPath(Downstream())
    holds = []
    for (user_id, token), seat in zip(people, s, strict=False):
        await database_sync_to_async(admit)(event, user_id)
        held = await _call(fast, _holds(event.id), token, {"seat_ids": [seat]})
        holds.append(json.loads(held["body"])["id"])
    paid = await asyncio.gather(
        *(
            _call(fast, _checkout(hold), token, {"payment_token": "tok_ok"}, idempotency_key=f"tick-{hold}")
            for hold, (_, token) in zip(holds, people, strict=True)
        )
    )
    assert [answer["status"] for answer in paid] == [201, 201, 201]
    await asyncio.sleep(AFTER_SALE_BATCH_SECONDS * 4)
    still_admitted = await database_sync_to_async(
        lambda: [admission_is_active(event=event, user_id=user_id) for user_id, _ in people]
    )()
    assert still_admitted == [False, False, False]


async def test_checkout_refusals_answer_as_the_view_does(settings):
    settings.PAYMENT_TIMEOUT_SECONDS = 0.4
    event = await _event()
    s = await _seats(event)
    a, b = await _people(2)
    holds = {}
    for person, seat in ((a, s[0]), (b, s[1])):
        response = await _call(django_asgi_app, _holds(event.id), person[1], {"seat_ids": [seat]})
        holds[person[0]] = json.loads(response["body"])["id"]
    cases = [
        ("tok_declined", "k-d", 402, "payment_declined"),
        ("tok_timeout", "k-t", 502, "payment_unavailable"),
    ]
    for token, key, status, code in cases:
        by_django, by_fast, downstream = await _both(
            lambda p: _checkout(holds[p[0]]), a, b, lambda p, token=token: {"payment_token": token}, idempotency_key=key
        )
        assert downstream.bodies == []
        _same(by_django, by_fast)
        assert (by_fast["status"], json.loads(by_fast["body"])["error"]) == (status, code)
    # Another person's hold is 404, as a hold that does not exist.
    by_django, by_fast, _ = await _both(
        lambda p: _checkout(holds[b[0] if p is a else a[0]]),
        a,
        b,
        lambda p: {"payment_token": "tok_ok"},
        idempotency_key="k-x",
    )
    _same(by_django, by_fast)
    assert by_fast["status"] == 404
    # A lapsed hold is 410 hold_expired.
    await database_sync_to_async(
        lambda: Hold.objects.filter(pk__in=list(holds.values())).update(expires_at="2000-01-01T00:00:00Z")
    )()
    by_django, by_fast, _ = await _both(
        lambda p: _checkout(holds[p[0]]), a, b, lambda p: {"payment_token": "tok_ok"}, idempotency_key="k-e"
    )
    _same(by_django, by_fast)
    assert json.loads(by_fast["body"])["error"] == "hold_expired"
    statuses = await database_sync_to_async(lambda: set(Payment.objects.values_list("status", flat=True)))()
    assert statuses <= {"declined", "voided", "voiding", "failed"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "token"),
    [
        ("holds", {"quantity": 1, "grade": "R", "seat_ids": [1]}, {}, "ok"),  # both forms: Django's 400
        ("holds", {"quantity": 1, "grade": "R\u00e9"}, {}, "ok"),
        ("holds", {"quantity": 1.0, "grade": "R"}, {}, "ok"),
        ("holds", {"seat_ids": [1], "note": "x"}, {}, "ok"),  # extra fields
        ("holds", {"seat_ids": ["1"]}, {}, "ok"),
        ("holds", {"seat_ids": [True]}, {}, "ok"),
        ("holds", b'{"seat_ids": [1], "x": NaN}', {}, "ok"),
        ("holds", b"[1, 2]", {}, "ok"),
        ("holds", b'{"seat_ids": ' + b"[" * 2000 + b"]" * 2000 + b"}", {}, "ok"),  # nesting past the parser
        ("holds", b"\xff\xfe", {}, "ok"),
        ("holds", b'{"seat_ids": [1]}' + b" " * 5000, {}, "ok"),  # past the fast path's body limit
        ("holds", {"seat_ids": [1]}, {"content_type": "text/plain"}, "ok"),
        ("holds", {"seat_ids": [1]}, {"accept": "text/html"}, "ok"),
        ("holds", {"seat_ids": [1]}, {}, None),  # no token: the session and CSRF are Django's
        ("holds", {"seat_ids": [1]}, {}, "unknown"),  # a token nobody has: Django's 401
        ("checkout", {"payment_token": "tok_ok"}, {}, "ok"),  # no Idempotency-Key
        ("checkout", {"payment_token": "tok\u0000"}, {"idempotency_key": "k"}, "ok"),
        ("checkout", {"payment_token": "tok_ok", "x": 1}, {"idempotency_key": "k"}, "ok"),
        ("checkout", {"payment_token": 5}, {"idempotency_key": "k"}, "ok"),
    ],
)
async def test_what_it_cannot_answer_exactly_goes_to_django_with_its_body(path, body, headers, token):
    event = await _event()
    ((_, key),) = await _people(1)
    downstream = Downstream()
    url = _holds(event.id) if path == "holds" else _checkout(1)
    extra = dict(headers)
    raw_token = {"ok": key, "unknown": "nobody-has-this-token", None: None}[token]
    if "content_type" in extra:
        extra["content-type"] = extra.pop("content_type")
    response = await _call(BookingFastPath(downstream), url, raw_token, body, **extra)
    assert response["status"] == PASSED_ON
    sent = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert downstream.bodies == [sent]
    assert await database_sync_to_async(Hold.objects.count)() == 0


async def test_a_cold_token_is_looked_up_and_cached():
    event = await _event()
    s = await _seats(event)
    ((_, token),) = await _people(1, warm=False)
    assert token_cached(token) is None
    held = await _call(BookingFastPath(Downstream()), _holds(event.id), token, {"seat_ids": [s[0]]})
    assert held["status"] == 201
    assert token_cached(token) is not None


@pytest.mark.parametrize("locks", [False, True])
async def test_one_seat_many_shoppers_on_the_event_loop(locks):
    """The race through the fast path: without the row locks several
    shoppers hold one seat; with them exactly one does."""
    event = await _event()
    target = (await _seats(event))[0]
    people = await _people(8)
    fast = BookingFastPath(Downstream())
    racy = {"BOOKING_ROW_LOCKS": False, "BOOKING_RACE_PAUSE_SECONDS": 0.6}
    with override_settings(**(racy if not locks else {})):
        answers = await asyncio.gather(*(_call(fast, _holds(event.id), t, {"seat_ids": [target]}) for _, t in people))
    won = [a for a in answers if a["status"] == 201]
    if not locks:
        assert len(won) > 1, "without the row lock the race should let several shoppers hold one seat"
        return
    assert len(won) == 1
    assert all(json.loads(a["body"])["error"] == "seat_unavailable" for a in answers if a["status"] != 201)
    held_by = await database_sync_to_async(lambda: Seat.objects.get(pk=target).hold_id)()
    assert held_by == json.loads(won[0]["body"])["id"]


async def test_an_expired_or_deactivated_cold_token_is_left_to_django_and_its_401():
    from knox.models import AuthToken

    event = await _event()
    s = await _seats(event)
    (expired_id, expired), (inactive_id, inactive) = await _people(2, warm=False)
    await database_sync_to_async(
        lambda: AuthToken.objects.filter(user_id=expired_id).update(expiry="2000-01-01T00:00:00Z")
    )()
    await database_sync_to_async(lambda: get_user_model().objects.filter(pk=inactive_id).update(is_active=False))()
    for token in (expired, inactive):
        downstream = Downstream()
        passed = await _call(BookingFastPath(downstream), _holds(event.id), token, {"seat_ids": [s[0]]})
        assert passed["status"] == PASSED_ON and len(downstream.bodies) == 1
        refused = await _call(BookingFastPath(django_asgi_app), _holds(event.id), token, {"seat_ids": [s[0]]})
        assert refused["status"] == 401
        assert token_cached(token) is None
    assert not await database_sync_to_async(AuthToken.objects.filter(user_id=expired_id).exists)()  # knox deletes it
    assert await database_sync_to_async(Hold.objects.count)() == 0
