"""Registration and login are limited per client address (API.md "Rate
limits"): 429 ``rate_limited`` with ``Retry-After``, nothing created, on the
API and on the pages; the address is the socket's unless proxies are trusted."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from core.client_address import client_address

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register/"
TOKEN = "/api/auth/token/"


def _register(client: APIClient, name: str, **extra: str):
    return client.post(REGISTER, {"username": name, "password": "pw-Secret-123"}, format="json", **extra)


def _refused(response) -> None:
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 3600


def test_registration_past_the_limit_is_429_and_creates_nobody(settings):
    settings.RATE_LIMIT_REGISTER = "3/h"
    client = APIClient()
    assert [_register(client, f"p{i}").status_code for i in range(3)] == [201, 201, 201]
    _refused(_register(client, "p3"))
    assert not get_user_model().objects.filter(username="p3").exists()
    assert _register(client, "p4", REMOTE_ADDR="10.1.2.3").status_code == 201  # another address has its own count


def test_guessing_a_password_is_429_even_for_the_right_one(settings, make_user):
    settings.RATE_LIMIT_LOGIN = "5/m"
    make_user("alice", password="pw-Right-123")
    client = APIClient()
    for guess in range(5):
        assert client.post(TOKEN, {"username": "alice", "password": f"guess-{guess}"}, format="json").status_code == 400
    _refused(client.post(TOKEN, {"username": "alice", "password": "pw-Right-123"}, format="json"))
    _refused(client.post(TOKEN, {"username": "alice"}, format="json"))  # bad input counts as an attempt too


def test_a_forged_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.RATE_LIMIT_REGISTER = "2/h"
    client = APIClient()
    for i in range(2):
        assert _register(client, f"f{i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code == 201
    _refused(_register(client, "f2", HTTP_X_FORWARDED_FOR="203.0.113.99"))


def test_behind_trusted_proxies_the_client_is_the_address_the_outermost_one_saw(settings):
    settings.RATE_LIMIT_REGISTER = "1/h"
    settings.TRUSTED_PROXY_COUNT = 1
    client = APIClient()
    assert _register(client, "t0", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 201
    assert _register(client, "t1", HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 201
    _refused(_register(client, "t2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7"))  # the forged left part is not it


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.2.3.4", "127.0.0.1"),
        (1, "1.2.3.4", "1.2.3.4"),
        (1, "9.9.9.9, 1.2.3.4", "1.2.3.4"),
        (2, "9.9.9.9, 1.2.3.4, 10.0.0.2", "1.2.3.4"),
        (2, "1.2.3.4", "127.0.0.1"),  # shorter than the chain: the peer
        (1, "not-an-address", "127.0.0.1"),
        (1, "", "127.0.0.1"),
        (1, " 2001:DB8::1 ", "2001:db8::1"),
        (1, "\u0661.\u0662.\u0663.\u0664", "127.0.0.1"),  # Arabic-Indic digits are no address
        (1, "1.2.3.4" + ", x" * 10_000, "127.0.0.1"),
    ],
)
def test_the_client_address(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_the_signup_and_login_pages_answer_429_and_do_nothing(settings, make_user):
    settings.RATE_LIMIT_REGISTER = "1/h"
    settings.RATE_LIMIT_LOGIN = "2/m"
    browser = Client()
    form = {"username": "pagey", "password": "pw-Secret-123", "password_again": "pw-Secret-123", "email": ""}
    assert browser.post("/accounts/signup/", form).status_code == 302  # created and logged in
    browser = Client()
    refused = browser.post("/accounts/signup/", {**form, "username": "pagey2"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert b"Too many attempts" in refused.content
    assert not get_user_model().objects.filter(username="pagey2").exists()

    make_user("bob", password="pw-Right-123")
    other = Client(REMOTE_ADDR="10.9.9.9")
    for _ in range(2):
        assert other.post("/accounts/login/", {"username": "bob", "password": "wrong"}).status_code == 200
    refused = other.post("/accounts/login/", {"username": "bob", "password": "pw-Right-123"})
    assert refused.status_code == 429 and b"Too many attempts" in refused.content
    assert "_auth_user_id" not in other.session  # not logged in
