"""Hostile input answers 4xx in the contract's error shape and changes nothing
(issue "Bad input: 4xx, never 500"): one test per reported case, each sending
the body, header or frame that used to be a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.services import token_issue
from core.redis import get_redis
from queue_app.services import queue_join
from reservations.holds import hold_create
from reservations.models import Event, Hold, Order, Payment, Seat
from reservations.services import event_create
from tests.reservations.conftest import client_for, seat_ids
from tests.reservations.test_checkin import buy

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register/"
TOKEN = "/api/auth/token/"


@pytest.fixture
def event() -> Event:
    """20 seats of grade R, no queue, at most 3 a person (the default)."""
    return event_create(name="Show", venue_name="Arena", sections="A:2x10:R:1000", queue_enabled=False)


def _holds_url(event: Event) -> str:
    return f"/api/events/{event.id}/holds/"


def _post_raw(client: Client, path: str, body: str | bytes, **extra: Any) -> Any:
    return client.post(path, body, content_type="application/json", **extra)


def _post_json(client: Client, path: str, body: Any, **extra: Any) -> Any:
    """``json.dumps`` escapes lone surrogates (``\\ud800``) as JSON allows; the
    test client's own JSON encoder could not send them at all."""
    return _post_raw(client, path, json.dumps(body), **extra)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def _seat_state(event: Event) -> list[tuple[int, str, Any]]:
    return list(Seat.objects.filter(event=event).order_by("id").values_list("id", "status", "hold_id"))


def _seat_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "reservations_seat" in q["sql"]]


# 1. quantity and seat ids past what SQL integers hold


@pytest.mark.parametrize("quantity", [5 * 10**18, 2**63, 2**31, -(2**63) - 1])
def test_absurd_quantity_is_400_invalid_and_holds_nothing(auth_client, event, quantity):
    before = _seat_state(event)

    response = _post_json(auth_client, _holds_url(event), {"quantity": quantity, "grade": "R"})

    _error(response, 400, "invalid")
    assert not Hold.objects.exists()
    assert _seat_state(event) == before


def test_quantity_past_the_limit_is_409_limit_exceeded_before_any_seat_is_read(auth_client, event):
    before = _seat_state(event)

    with CaptureQueriesContext(connection) as queries:
        response = _post_json(auth_client, _holds_url(event), {"quantity": 2**31 - 1, "grade": "R"})

    assert _error(response, 409, "limit_exceeded")["limit"] == 3
    assert _seat_queries(queries) == []
    assert not Hold.objects.exists()
    assert _seat_state(event) == before


@pytest.mark.parametrize("bad_id", [2**63, 2**64, 10**30, -1, 0, -(2**63) - 1])
def test_seat_ids_no_seat_can_have_are_400_invalid(auth_client, event, bad_id):
    before = _seat_state(event)

    response = _post_json(auth_client, _holds_url(event), {"seat_ids": [seat_ids(event)[0], bad_id]})

    _error(response, 400, "invalid")
    assert not Hold.objects.exists()
    assert _seat_state(event) == before


@pytest.mark.parametrize("bad_id", [2**63, 10**24])
def test_checkout_of_a_hold_id_no_hold_can_have_is_404_not_found(auth_client, held, bad_id):
    """Found by schemathesis: the view passed such an id to the stored function, whose bigint cast was a 500."""
    before = _seat_state(held.event)

    response = auth_client.post(
        f"/api/holds/{bad_id}/checkout/", {"payment_token": "tok_ok"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    _error(response, 404, "not_found")
    assert not Payment.objects.exists()
    assert _seat_state(held.event) == before


# 2. text PostgreSQL cannot store: NUL, lone surrogates


@pytest.mark.parametrize("grade", ["\u0000", "R\u0000", "\ud800", "R\udfff"])
def test_grade_with_nul_or_a_lone_surrogate_is_400_invalid(auth_client, event, grade):
    response = _post_json(auth_client, _holds_url(event), {"quantity": 1, "grade": grade})

    _error(response, 400, "invalid")
    assert not Hold.objects.exists()


@pytest.mark.parametrize("bad", ["bo\u0000b", "bob\ud800"])
@pytest.mark.parametrize("field", ["username", "password", "email"])
def test_register_and_token_refuse_nul_and_lone_surrogates(api_client, make_user, field, bad):
    make_user("bob")
    body = {"username": "carol", "password": "pw-Secret-123", "email": "carol@example.com", field: bad}

    _error(_post_json(api_client, REGISTER, body), 400, "invalid")
    assert _post_json(api_client, TOKEN, body).status_code == 400
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["bob"]
    assert not AuthToken.objects.exists()


@pytest.fixture
def held(user: Any, event: Event) -> Hold:
    return hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])


def _unchanged_hold(hold: Hold) -> None:
    hold.refresh_from_db()
    assert hold.status == Hold.Status.ACTIVE and hold.paying_until is None
    assert Seat.objects.filter(hold=hold, status="held").count() == 2
    assert not Order.objects.exists()


@pytest.mark.parametrize("token", ["tok_ok\u0000", "\u0000", "tok_\ud800"])
def test_checkout_payment_token_with_nul_or_surrogate_is_400_invalid(auth_client, held, token):
    response = _post_json(
        auth_client, f"/api/holds/{held.id}/checkout/", {"payment_token": token}, HTTP_IDEMPOTENCY_KEY="k1"
    )

    _error(response, 400, "invalid")
    _unchanged_hold(held)
    assert not Payment.objects.exists()


def test_checkout_idempotency_key_with_nul_is_400_invalid(auth_client, held):
    response = _post_json(
        auth_client, f"/api/holds/{held.id}/checkout/", {"payment_token": "tok_ok"}, HTTP_IDEMPOTENCY_KEY="k\x00"
    )

    _error(response, 400, "invalid")
    _unchanged_hold(held)
    assert not Payment.objects.exists()


def test_nul_in_a_header_is_400_and_a_cookie_that_decodes_to_nul_is_ignored(user):
    token = token_issue(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}\x00")
    _error(api.get("/api/orders/"), 400, "invalid")
    page = Client().get("/", HTTP_X_NOTE="a\x00b")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")

    browser = Client()
    browser.cookies["sessionid"] = "abcdefgh\x00ijk"  # sent as the quoted octal escape \000, which Django decodes
    _error(browser.get("/api/orders/"), 401, "not_authenticated")
    assert browser.get("/").status_code == 200


# 3. JSON nested past the recursion limit


@pytest.mark.parametrize("depth", [50_000, 100_000])
def test_deeply_nested_json_is_400_invalid(auth_client, event, depth):
    body = "[" * depth

    for path in (_holds_url(event), REGISTER, TOKEN):
        _error(_post_raw(auth_client, path, body), 400, "invalid")
    assert not Hold.objects.exists()
    assert get_user_model().objects.count() == 1  # the test's own user


# 4. a body past DATA_UPLOAD_MAX_MEMORY_SIZE


def test_a_3_mb_body_is_413_too_large_in_the_contract_shape(auth_client, event):
    body = json.dumps({"username": "carol", "password": "x" * 3_000_000})

    for path in (REGISTER, TOKEN, _holds_url(event)):
        response = _post_raw(auth_client, path, body)
        assert response["Content-Type"] == "application/json"
        assert _error(response, 413, "too_large")["limit_bytes"] == 2_621_440
    assert get_user_model().objects.count() == 1
    assert not Hold.objects.exists()


def test_a_3_mb_body_after_401_and_404(api_client, auth_client):
    body = "[" * 3_000_000

    _error(_post_raw(api_client, "/api/events/1/holds/", body), 401, "not_authenticated")
    _error(_post_raw(auth_client, "/api/events/999999/holds/", body), 404, "not_found")


# 5. a WebSocket frame too big or too deep for json.loads


@pytest.mark.django_db(transaction=True)
async def test_a_huge_deep_websocket_frame_is_ignored_and_the_socket_still_answers_ping():
    from ticketing.asgi import application

    @database_sync_to_async
    def setup() -> tuple[Event, str]:
        event = event_create(name="Night", venue_name="Dome", sections="A:2x10:R:1000", queue_enabled=True)
        user = get_user_model().objects.create_user(username="fan", password="pw-Secret-123")
        queue_join(event_id=event.id, user_id=user.id)
        return event, token_issue(user=user)

    event, token = await setup()
    ws = WebsocketCommunicator(
        application, f"/ws/events/{event.id}/queue/", headers=[(b"authorization", f"Token {token}".encode())]
    )
    assert (await ws.connect(timeout=5))[0]
    assert (await ws.receive_json_from(timeout=5))["type"] == "position"

    for frame in ("[" * 200_000, "[" * 900 + "]" * 900, '{"type": "ping"' + " " * 2000 + "}"):
        await ws.send_to(text_data=frame)
    await ws.send_json_to({"type": "ping"})

    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


# 6. PostgreSQL / Redis down: pages answer an HTML 503, the API its JSON 503


@contextmanager
def _redis_down() -> Iterator[None]:
    """The project's Redis client and the Django cache (sessions) on a closed
    port, as tests/test_ops.py does for /readyz."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    get_redis.cache_clear()
    try:
        with override_settings(REDIS_URL=url, CACHES={"default": {**settings.CACHES["default"], "LOCATION": url}}):
            yield
    finally:
        get_redis.cache_clear()


def test_pages_answer_an_html_503_with_retry_after_while_redis_is_down(user, event):
    browser = Client(raise_request_exception=False)
    browser.force_login(user)  # while Redis is up: the session is in the cache
    api = client_for(user)
    api.raise_request_exception = False

    with _redis_down():
        for path in ("/", f"/events/{event.id}/seats/"):
            page = browser.get(path)
            assert page.status_code == 503, path
            assert page["Content-Type"].startswith("text/html")
            assert int(page["Retry-After"]) >= 1
            assert "back in a moment" in page.content.decode()

        for client in (browser, api):
            response = client.get(f"/api/events/{event.id}/seats/")
            assert response["Content-Type"] == "application/json"
            _error(response, 503, "unavailable")
            assert int(response["Retry-After"]) >= 1


# 7. a full-width twin of a taken name


def test_a_full_width_twin_of_a_taken_username_is_409(api_client, make_user):
    make_user("victim")

    response = _post_json(
        api_client, REGISTER, {"username": "\uff36\uff29\uff23\uff34\uff29\uff2d", "password": "pw-Secret-123"}
    )

    _error(response, 409, "username_taken")
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["victim"]


def test_a_full_width_name_logs_in_as_typed_and_a_name_that_grows_past_150_is_400(api_client):
    full_width = "\uff2a\uff2f"  # JO in full-width letters, stored as "JO"
    registered = _post_json(api_client, REGISTER, {"username": full_width, "password": "pw-Secret-123"})
    assert registered.status_code == 201 and registered.json()["username"] == "JO"
    token = _post_json(api_client, TOKEN, {"username": full_width, "password": "pw-Secret-123"})
    assert token.status_code == 200
    assert AuthToken.objects.get(digest=hash_token(token.json()["token"])).user.username == "JO"

    ligatures = "\ufdfa" * 9  # 9 characters, 162 after NFKC
    body = _error(
        _post_json(api_client, REGISTER, {"username": ligatures, "password": "pw-Secret-123"}), 400, "invalid"
    )
    assert body["fields"]["username"]
    assert get_user_model().objects.count() == 1


def test_an_email_longer_than_its_column_is_400(api_client):
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"  # valid, 313 characters

    body = _error(
        _post_json(api_client, REGISTER, {"username": "carol", "password": "pw-Secret-123", "email": email}),
        400,
        "invalid",
    )

    assert body["fields"]["email"]
    assert not get_user_model().objects.exists()


# 8. a seat id list far past the limit


def test_a_list_of_300000_seat_ids_is_409_limit_exceeded_before_any_seat_is_read(auth_client, event):
    before = _seat_state(event)
    ids = list(range(1, 300_001))

    with CaptureQueriesContext(connection) as queries:
        response = _post_json(auth_client, _holds_url(event), {"seat_ids": ids})

    assert _error(response, 409, "limit_exceeded")["limit"] == 3
    assert _seat_queries(queries) == []
    assert not Hold.objects.exists()
    assert _seat_state(event) == before


def test_a_long_list_that_is_not_integers_is_still_400_first(auth_client, event):
    response = _post_json(auth_client, _holds_url(event), {"seat_ids": [*range(1, 1000), "x"]})

    _error(response, 400, "invalid")
    assert not Hold.objects.exists()


# 9. found by the contract test (schemathesis): JSON of the wrong type taken as text or as no body


@pytest.mark.parametrize("field", ["username", "password"])
@pytest.mark.parametrize("value", [0, 12.5, True, ["bob"], {"name": "bob"}])
def test_register_and_token_refuse_a_name_or_password_that_is_not_a_string(api_client, make_user, field, value):
    """A JSON number used to register as its text: ``{"username": 0}`` made user ``"0"``."""
    make_user("bob")
    body = {"username": "carol", "password": "pw-Secret-123", field: value}

    assert _error(_post_json(api_client, REGISTER, body), 400, "invalid")["fields"][field]
    assert _post_json(api_client, TOKEN, body).status_code == 400
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["bob"]


@pytest.mark.parametrize("body", ["null", "[]", "0", "false", '""'])
def test_a_queue_join_whose_body_is_not_an_object_is_400_and_joins_nothing(auth_client, body):
    """No body, or a JSON object, is a join; ``null`` used to join as if there were none."""
    queued = event_create(name="Queued", venue_name="Arena", sections="A:1x5:R:1000")

    _error(_post_raw(auth_client, f"/api/events/{queued.id}/queue/", body), 400, "invalid")
    assert auth_client.get(f"/api/events/{queued.id}/queue/").json()["state"] == "not_in_queue"


# 10. the cancellation read its body before the order: the contract puts 404 before 400 (and 413)


@pytest.mark.parametrize("body", ["[]", "null", "0", '"x"', "[" * 3_000_000])
def test_a_cancel_of_an_order_not_yours_is_404_whatever_the_body(auth_client, make_user, body):
    """A malformed or oversized body used to answer 400 / 413 on someone
    else's order (and on none), before the order was looked up."""
    event = event_create(name="Show", venue_name="Arena", sections="A:1x5:R:1000", queue_enabled=False, cancel_hours=24)
    theirs = buy(event, make_user("bob"), count=1)

    _error(_post_raw(auth_client, f"/api/orders/{theirs.id}/cancel/", body), 404, "not_found")
    _error(_post_raw(auth_client, "/api/orders/99999999999999999999/cancel/", body), 404, "not_found")
    assert Order.objects.get(pk=theirs.pk).status == Order.Status.PAID
    assert set(theirs.tickets.values_list("status", flat=True)) == {"valid"}
