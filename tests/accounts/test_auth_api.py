"""Accounts API: register, token, the 401 shapes, and the token cache."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from knox.crypto import hash_token
from knox.models import AuthToken

from accounts.tokens import token_cached

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register/"
TOKEN = "/api/auth/token/"
WHOAMI = "/api/test/whoami/"


def register(api_client, **body):
    return api_client.post(REGISTER, {"username": "bob", "password": "pw-Secret-123", **body}, format="json")


def test_register_creates_the_user_and_returns_id_username_and_a_working_token(api_client):
    response = register(api_client, email="bob@example.com")

    assert response.status_code == 201
    body = response.json()
    user = get_user_model().objects.get(username="bob")
    assert body == {"id": user.id, "username": "bob", "token": body["token"]}
    assert AuthToken.objects.get(digest=hash_token(body["token"])).user == user
    assert user.email == "bob@example.com"
    assert user.check_password("pw-Secret-123")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": ""}, "password"),
        ({"username": ""}, "username"),
        ({"username": "no spaces allowed"}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "123"}, "password"),
        ({"password": "bob"}, "password"),
    ],
)
def test_register_with_invalid_input_is_400_with_field_errors_and_creates_nothing(api_client, body, field):
    response = register(api_client, **body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert response.json()["detail"]
    assert response.json()["fields"][field]
    assert not get_user_model().objects.exists()


def test_register_with_a_body_that_is_not_json_is_400_invalid(api_client):
    response = api_client.post(REGISTER, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


def test_register_with_a_taken_username_is_409_whatever_the_case(api_client, make_user):
    make_user("bob")

    for name in ("bob", "BOB"):
        response = register(api_client, username=name)
        assert response.status_code == 409
        assert response.json()["error"] == "username_taken"
        assert response.json()["detail"]
    assert get_user_model().objects.count() == 1


def test_token_returns_a_new_working_token_of_the_user_and_the_first_keeps_working(api_client):
    registered = register(api_client).json()

    response = api_client.post(TOKEN, {"username": "bob", "password": "pw-Secret-123"}, format="json")

    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    for token in (registered["token"], response.json()["token"]):
        assert AuthToken.objects.get(digest=hash_token(token)).user_id == registered["id"]
    assert registered["token"] != response.json()["token"]  # one token per login, each revocable alone


def test_token_is_created_on_first_use_for_a_user_without_one(api_client, make_user):
    user = make_user("carol")

    response = api_client.post(TOKEN, {"username": "carol", "password": "pw-Secret-123"}, format="json")

    assert response.status_code == 200
    assert AuthToken.objects.get(digest=hash_token(response.json()["token"])).user == user


@pytest.mark.parametrize(
    "body",
    [
        {"username": "bob", "password": "wrong-password"},
        {"username": "nobody", "password": "pw-Secret-123"},
        {"username": "bob"},
        {},
    ],
)
def test_token_with_bad_credentials_is_400_invalid_credentials(api_client, body):
    register(api_client)

    response = api_client.post(TOKEN, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"
    assert response.json()["detail"]


def test_token_for_an_inactive_user_is_refused(api_client, make_user):
    user = make_user("dave")
    user.is_active = False
    user.save()

    response = api_client.post(TOKEN, {"username": "dave", "password": "pw-Secret-123"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"


@pytest.mark.urls("tests.accounts.protected_urls")
def test_no_credentials_is_401_not_authenticated(api_client):
    response = api_client.get(WHOAMI)

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.urls("tests.accounts.protected_urls")
@pytest.mark.parametrize("header", ["Token not-a-real-token", "Token ", "Token two words"])
def test_a_bad_token_is_401_authentication_failed(api_client, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.get(WHOAMI)

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"
    assert response.json()["detail"]


@pytest.mark.urls("tests.accounts.protected_urls")
def test_a_valid_token_authenticates_and_is_then_served_from_the_cache(api_client, django_assert_num_queries):
    body = register(api_client).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")

    first = api_client.get(WHOAMI)
    assert first.status_code == 200
    assert first.json() == {"id": body["id"], "username": "bob"}
    assert token_cached(body["token"]).id == body["id"]

    with django_assert_num_queries(0):
        assert api_client.get(WHOAMI).json() == {"id": body["id"], "username": "bob"}


@pytest.mark.urls("tests.accounts.protected_urls")
def test_deleting_a_token_drops_it_from_the_cache_at_once(api_client, django_capture_on_commit_callbacks):
    body = register(api_client).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api_client.get(WHOAMI).status_code == 200
    assert token_cached(body["token"]) is not None

    with django_capture_on_commit_callbacks(execute=True):  # the cache forgets it once the delete commits
        AuthToken.objects.filter(digest=hash_token(body["token"])).delete()

    assert token_cached(body["token"]) is None
    response = api_client.get(WHOAMI)
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


@pytest.mark.urls("tests.accounts.protected_urls")
def test_deactivating_a_user_stops_their_cached_token_at_once(api_client, django_capture_on_commit_callbacks):
    body = register(api_client).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api_client.get(WHOAMI).status_code == 200

    user = get_user_model().objects.get(pk=body["id"])
    user.is_active = False
    with django_capture_on_commit_callbacks(execute=True):  # the cache forgets the user once this commits
        user.save()
    assert not AuthToken.objects.filter(user_id=user.id).exists()  # deactivation revokes every token

    response = api_client.get(WHOAMI)
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"
