"""Property (Hypothesis): whatever a client sends to holds, checkout, register,
token and queue join, the answer is below 500, every error is in the
contract's shape, and a refused request changes nothing.

Generated input leans on what used to break: integers past bigint, text
with NUL, lone surrogates, full-width letters and ligatures that grow under
NFKC, arbitrary JSON, bytes that are not JSON, deep nesting. Each test sets
its data up once and compares a snapshot before and after every example.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from knox.models import AuthToken
from rest_framework.test import APIClient

from reservations.holds import hold_create, hold_release
from reservations.models import Event, Hold, Order, Seat
from reservations.services import event_create
from tests.reservations.conftest import client_for, seat_ids

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_no_rate_limits")]

PROPERTY = hypothesis.settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Tokens the test gateway charges (or waits on): every other token is declined.
PAYING_TOKENS = {"tok_ok", "tok_capture_slow", "tok_timeout"}

hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),  # every code point: NUL, lone surrogates
    st.sampled_from(
        [
            "",
            "\x00",
            "R\x00",
            "\ud800",
            "R\udfff",
            "\uff36\uff29\uff23\uff34\uff29\uff2d",  # full-width VICTIM
            "\ufdfa" * 9,  # 9 characters, 162 after NFKC
            "R",
            "S",
            "tok_declined",
            "x" * 300,
        ]
    ),
)
big_integers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]),
)
json_values = st.recursive(
    st.none() | st.booleans() | big_integers | st.floats(allow_nan=False, allow_infinity=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)
not_json = st.one_of(
    st.binary(max_size=40),
    st.integers(min_value=1, max_value=100_000).map(lambda depth: "[" * depth),
    st.sampled_from(["", "{", '{"a": NaN}', '{"a": 1e999}', "1" * 5000]),
)


def bodies(shaped: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[str | bytes]:
    """The endpoint's own shape with hostile values, any JSON at all, or no JSON."""
    return st.one_of(shaped.map(json.dumps), json_values.map(json.dumps), not_json)


@pytest.fixture
def _no_rate_limits() -> Any:
    with override_settings(RATE_LIMIT_HOLD="1000000/m", RATE_LIMIT_JOIN="1000000/m"):
        yield


@pytest.fixture
def shopper(user: Any) -> APIClient:
    """One client for every example: each new test client loads the middleware
    again, WhiteNoise's scan of the static files with it (~25 ms)."""
    return client_for(user)


def _send(client: APIClient, path: str, body: str | bytes, **headers: Any) -> Any:
    """POST ``body`` as JSON; the answer must be below 500 and, if an error, in the contract's shape."""
    response = client.post(path, body, content_type="application/json", **headers)
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/json"
        error = response.json()
        assert isinstance(error.get("error"), str) and error["error"]
        assert isinstance(error.get("detail"), str) and error["detail"]
    return response


def _unchanged_on_refusal(snapshot: Callable[[], Any], send: Callable[[], Any]) -> Any:
    before = snapshot()
    response = send()
    if response.status_code >= 400:
        assert snapshot() == before
    return response


def _event(**options: Any) -> Event:
    return event_create(name="Show", venue_name="Arena", sections="A:2x5:R:1000,B:1x5:S:500", **options)


def _seats_and_holds(event: Event) -> tuple[int, list[tuple[int, str, int | None]]]:
    seats = Seat.objects.filter(event=event).order_by("id").values_list("id", "status", "hold_id")
    return Hold.objects.count(), list(seats)


@PROPERTY
@given(data=st.data())
def test_holds(user: Any, shopper: APIClient, data: st.DataObject) -> None:
    event = Event.objects.filter(name="Show").first() or _event(queue_enabled=False)
    ids = seat_ids(event)
    seat_id = st.sampled_from(ids) | big_integers
    shaped = st.one_of(
        st.fixed_dictionaries({"seat_ids": st.lists(seat_id, max_size=6)}),
        st.fixed_dictionaries({"quantity": big_integers | json_values, "grade": hostile_text}),
        st.fixed_dictionaries({"seat_ids": st.lists(seat_id, max_size=3), "quantity": big_integers}),
    )
    body = data.draw(bodies(shaped))

    response = _unchanged_on_refusal(
        lambda: _seats_and_holds(event), lambda: _send(shopper, f"/api/events/{event.id}/holds/", body)
    )

    if response.status_code == 201:  # give the seats back: the next example starts from the same state
        hold_release(hold_id=response.json()["id"], user_id=user.id)


def _hold_state(hold: Hold) -> tuple[Any, ...]:
    hold.refresh_from_db()
    held = Seat.objects.filter(hold=hold, status="held").count()
    return hold.status, hold.paying_until, held, Order.objects.count()


@PROPERTY
@given(data=st.data())
def test_checkout(user: Any, shopper: APIClient, data: st.DataObject) -> None:
    event = Event.objects.filter(name="Show").first() or _event(queue_enabled=False)
    hold = Hold.objects.filter(user=user).first() or hold_create(
        event=event, user_id=user.id, seat_ids=seat_ids(event)[:2]
    )
    token = (hostile_text | json_values).filter(lambda v: not (isinstance(v, str) and v in PAYING_TOKENS))
    body = data.draw(bodies(st.fixed_dictionaries({"payment_token": token})))
    key = data.draw(st.none() | hostile_text | st.text(st.characters(max_codepoint=0xFF), min_size=1, max_size=300))
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}

    response = _unchanged_on_refusal(
        lambda: _hold_state(hold), lambda: _send(shopper, f"/api/holds/{hold.id}/checkout/", body, **headers)
    )

    assert response.status_code >= 400  # nothing generated here pays


def _people() -> tuple[int, int]:
    return get_user_model().objects.count(), AuthToken.objects.count()


@PROPERTY
@given(data=st.data())
def test_register(make_user: Any, api_client: APIClient, data: st.DataObject) -> None:
    if not get_user_model().objects.filter(username="victim").exists():
        make_user("victim")
    name = hostile_text | st.from_regex(r"[\w.@+-]{1,20}", fullmatch=True)
    shaped = st.fixed_dictionaries(
        {"username": name | json_values, "password": st.just("pw-Secret-123") | hostile_text},
        optional={"email": st.emails() | hostile_text | json_values},
    )
    body = data.draw(bodies(shaped))

    _unchanged_on_refusal(_people, lambda: _send(api_client, "/api/auth/register/", body))


@PROPERTY
@given(data=st.data())
def test_token(make_user: Any, api_client: APIClient, data: st.DataObject) -> None:
    if not get_user_model().objects.filter(username="victim").exists():
        make_user("victim")
    shaped = st.fixed_dictionaries(
        {
            "username": st.sampled_from(["victim", "VICTIM", "\uff56\uff49\uff43\uff54\uff49\uff4d"]) | hostile_text,
            "password": st.sampled_from(["pw-Secret-123"]) | hostile_text | json_values,
        }
    )
    body = data.draw(bodies(shaped))

    response = _send(api_client, "/api/auth/token/", body)

    assert response.status_code in (200, 400)
    assert get_user_model().objects.count() == 1


@PROPERTY
@given(data=st.data())
def test_queue_join(shopper: APIClient, data: st.DataObject) -> None:
    event = Event.objects.filter(name="Show").first() or _event(queue_enabled=True)
    event_id = data.draw(st.just(event.id) | st.integers(min_value=0, max_value=2**70))
    body = data.draw(bodies(st.fixed_dictionaries({"challenge": hostile_text, "nonce": hostile_text})))

    response = _send(shopper, f"/api/events/{event_id}/queue/", body)

    if event_id != event.id:
        assert response.status_code == 404 and response.json()["error"] == "not_found"
