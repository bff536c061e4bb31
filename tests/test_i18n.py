"""The language of an answer: the fast paths' choice (``core.i18n``) is
Django's ``LocaleMiddleware``'s for every header, and API details are
Korean or English by it, with the error codes unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.cache import patch_vary_headers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.i18n import language_headers, scope_language

TAGS = ["ko", "ko-KR", "KO-kr", "en", "en-US", "en-GB", "fr", "de-CH", "zh-Hant-TW", "*", "x-klingon", "i-default"]
accept_item = st.builds(
    lambda tag, q: tag if q is None else f"{tag};q={q}",
    st.sampled_from(TAGS) | st.text(alphabet="abcdefghijklmnopqrstuvwxyzKO-_*;=.0123456789 ", max_size=12),
    st.none() | st.sampled_from(["1", "0.9", "0.5", "0", "0.001", "1.5", "abc", ""]),
)
accept_header = st.lists(accept_item, max_size=5).map(", ".join)
cookie_value = st.none() | st.sampled_from(["ko", "en", "fr", "ko-kr", "", "EN", "ko;", "../ko", "x" * 300])


def _scope(accept: str | None, cookie: str | None, *, split: bool = False) -> dict[str, Any]:
    headers = [(b"host", b"testserver")]
    if accept is not None:
        if split and "," in accept:
            first, _, rest = accept.partition(",")
            headers += [(b"accept-language", first.encode()), (b"accept-language", rest.encode())]
        else:
            headers.append((b"accept-language", accept.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid=abc; django_language={cookie}".encode()))
    return {"type": "http", "method": "GET", "path": "/api/events/", "query_string": b"", "headers": headers}


def _django_choice(scope: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """What LocaleMiddleware activates and adds to a response with no Vary yet."""
    request = ASGIRequest(scope, None)
    middleware = LocaleMiddleware(lambda request: HttpResponse())
    with translation.override(None):
        middleware.process_request(request)
        language = translation.get_language()
        response = middleware.process_response(request, HttpResponse())
    return language, {"Vary": response["Vary"], "Content-Language": response["Content-Language"]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accept=st.none() | accept_header, cookie=cookie_value, split=st.booleans())
def test_the_fast_paths_choose_the_language_django_chooses(accept, cookie, split):
    scope = _scope(accept, cookie, split=split)
    language, headers = _django_choice(scope)
    assert scope_language(scope) == language
    assert language_headers(language) == headers


@pytest.mark.parametrize(
    ("accept", "cookie", "expected"),
    [
        (None, None, "en"),
        ("ko", None, "ko"),
        ("ko-KR,ko;q=0.9,en-US;q=0.8", None, "ko"),
        ("fr-FR,ko;q=0.5", None, "ko"),
        ("en-US,ko;q=0.9", None, "en"),
        ("ja,zh;q=0.9", None, "en"),
        ("ko", "en", "en"),  # the switcher's cookie wins
        ("en", "ko", "ko"),
        ("en", "xx", "en"),  # a cookie for no language of ours is ignored
    ],
)
def test_language_choice_examples(accept, cookie, expected):
    assert scope_language(_scope(accept, cookie)) == expected


@pytest.mark.parametrize("accept", ["en-US;q=0.1," * 100 + "ko", "ko," + "x" * 5000, "fr;q=0.9," * 60 + "ko;q=0.5"])
def test_long_headers_are_chosen_as_django_does_and_kept_out_of_the_cache(accept):
    from core.i18n import _language_cached

    scope = _scope(accept, "x" * 40)
    before = _language_cached.cache_info().currsize
    assert scope_language(scope) == _django_choice(scope)[0]
    assert _language_cached.cache_info().currsize == before


@pytest.mark.parametrize("vary", [None, "Accept-Encoding", "Accept-Encoding, Cookie", "accept-language", "*"])
def test_the_fast_paths_patch_vary_as_django_does(vary):
    response = HttpResponse()
    if vary is not None:
        response["Vary"] = vary
    patch_vary_headers(response, ("Accept-Language",))
    assert language_headers("ko", vary) == {"Vary": response["Vary"], "Content-Language": "ko"}


pytestmark_db = pytest.mark.django_db


@pytest.fixture
def event(db: Any) -> Any:
    from reservations.services import event_create

    return event_create(name="Show", venue_name="Arena", sections="A:2x5:R:1000", queue_enabled=False)


@pytestmark_db
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "english", "korean"),
    [
        ("get", "/api/events/999999/", None, 404, "not_found", "No such event.", "그런 공연이 없습니다."),
        ("get", "/api/nowhere/", None, 404, "not_found", "Not found.", "찾을 수 없습니다."),
        ("get", "/api/orders/999999/", None, 404, "not_found", "No such order.", "그런 주문이 없습니다."),
        (
            "post",
            "/api/events/{event}/holds/",
            {"seat_ids": []},
            400,
            "invalid",
            "seat_ids is empty.",
            "seat_ids가 비어 있습니다.",
        ),
        (
            "post",
            "/api/events/{event}/holds/",
            {"quantity": 1, "grade": "ZZ"},
            400,
            "invalid",
            "This event has no grade 'ZZ'.",
            "이 공연에는 'ZZ' 등급이 없습니다.",
        ),
        (
            "post",
            "/api/events/{event}/holds/",
            {"quantity": 9, "grade": "R"},
            409,
            "limit_exceeded",
            "You may hold and buy at most 3 seats for this event.",
            "이 공연은 1인당 최대 3석까지 선점하고 구매할 수 있습니다.",
        ),
        (
            "post",
            "/api/holds/999999/checkout/",
            {"payment_token": "tok_ok"},
            404,
            "not_found",
            "No such hold.",
            "그런 좌석 선점이 없습니다.",
        ),
    ],
)
def test_api_details_follow_accept_language_and_codes_stay(
    auth_client, event, method, path, body, status, code, english, korean
):
    url = path.format(event=event.id)
    for accept, detail in ((None, english), ("en-US,en;q=0.9", english), ("ko-KR,ko;q=0.9", korean)):
        headers = {} if accept is None else {"HTTP_ACCEPT_LANGUAGE": accept}
        response = getattr(auth_client, method)(url, body, format="json", **headers)
        assert response.status_code == status
        answer = response.json()
        assert (answer["error"], answer["detail"]) == (code, detail)
        assert response["Content-Language"] == ("ko" if detail == korean else "en")
        assert "Accept-Language" in response["Vary"]


@pytestmark_db
def test_field_messages_and_drf_own_messages_are_korean_too(auth_client, api_client, event):
    held = auth_client.post(
        f"/api/events/{event.id}/holds/", {"seat_ids": [1, 1]}, format="json", HTTP_ACCEPT_LANGUAGE="ko"
    ).json()
    assert held == {
        "error": "invalid",
        "detail": "seat_ids에 중복된 값이 있습니다.",
        "fields": {"seat_ids": ["같은 좌석이 두 번 들어 있습니다."]},
    }
    anonymous = api_client.get("/api/orders/", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert (
        anonymous["error"] == "not_authenticated" and anonymous["detail"] == "자격 인증 데이터가 제공되지 않았습니다."
    )


@pytestmark_db
def test_the_language_cookie_of_the_switcher_beats_accept_language(auth_client):
    auth_client.cookies["django_language"] = "ko"
    response = auth_client.get("/api/events/999999/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["detail"] == "그런 공연이 없습니다." and response["Content-Language"] == "ko"
