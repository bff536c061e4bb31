"""API tokens: hashed at rest, expiring, and revoked at once by deactivation,
a new password and logout, with the cache invalidated only after commit and
fenced against a read that started before it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.services import token_issue
from accounts.tokens import token_cache_forget, token_cache_forget_user, token_cache_store, token_cached

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.accounts.protected_urls")]

WHOAMI = "/api/test/whoami/"


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_tokens_are_stored_only_as_digests(make_user):
    token = token_issue(user=make_user("dana"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT digest, token_key FROM knox_authtoken")
        ((digest, key_prefix),) = cursor.fetchall()
    assert digest == hash_token(token) and token not in digest
    assert len(key_prefix) < len(token)  # only a short look-up prefix is kept readable


def test_an_expired_token_is_refused(make_user):
    token = token_issue(user=make_user("erin"))
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    response = _client(token).get(WHOAMI)
    assert response.status_code == 401 and response.json()["error"] == "authentication_failed"
    assert not AuthToken.objects.exists()  # knox drops it


def test_a_new_password_revokes_every_token(make_user):
    user = make_user("fred")
    tokens = [token_issue(user=user), token_issue(user=user)]
    for token in tokens:
        assert _client(token).get(WHOAMI).status_code == 200  # now cached
    user.set_password("another-Secret-456")
    user.save()  # committed at once (transactional test): the cache forgets on commit
    assert [_client(t).get(WHOAMI).status_code for t in tokens] == [401, 401]
    assert not AuthToken.objects.filter(user=user).exists()


def test_an_ordinary_save_keeps_the_tokens(make_user):
    user = make_user("gina")
    token = token_issue(user=user)
    user.email = "gina@example.com"
    user.save()
    assert _client(token).get(WHOAMI).status_code == 200


def test_logout_revokes_only_that_token(make_user):
    user = make_user("hank")
    phone, laptop = token_issue(user=user), token_issue(user=user)
    assert _client(phone).get(WHOAMI).status_code == 200
    assert _client(phone).post("/api/auth/logout/").status_code == 204
    assert _client(phone).get(WHOAMI).status_code == 401
    assert _client(laptop).get(WHOAMI).status_code == 200


def test_deactivation_is_seen_at_once_after_commit(make_user):
    user = make_user("ivy")
    token = token_issue(user=user)
    assert _client(token).get(WHOAMI).status_code == 200
    user.is_active = False
    user.save()
    assert token_cached(token) is None
    assert _client(token).get(WHOAMI).status_code == 401


def test_a_read_that_started_before_the_revocation_cannot_cache_the_old_user(make_user):
    """The race of the finding: a request reads the (still active) user, the
    deactivation commits and clears the cache, then the request stores what
    it read. The fence refuses that store; without it the old user would be
    cached for minutes."""
    user = make_user("jack")
    token = token_issue(user=user)
    # Protection off: a plain delete of the entries (what was done before) lets the late store through.
    read_started = time.time()
    token_cache_forget([token])
    assert token_cache_store(token, user, expiry=None, read_started=read_started) is True
    assert token_cached(token) is not None  # the revoked user is back in the cache
    # Protection on: the fenced forget.
    read_started = time.time()  # the request's database read begins ...
    token_cache_forget_user(user.id)  # ... the deactivation commits and clears the cache ...
    assert token_cache_store(token, user, expiry=None, read_started=read_started) is False  # ... too late
    assert token_cached(token) is None
    # A read that starts after the revocation may cache again (a password change leaves the user active).
    assert token_cache_store(token, user, expiry=None, read_started=time.time() + 0.001) is True
