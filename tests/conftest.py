"""Shared fixtures: real PostgreSQL (pytest-django) and real Redis (own db, flushed per test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.contrib.auth import get_user_model
from django.db import connections
from rest_framework.test import APIClient

from accounts.services import token_issue
from core.redis import get_redis


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Every test starts with an empty Redis db (REDIS_DB, 15 by default)."""
    get_redis().flushdb()
    yield
    get_redis().flushdb()


@pytest.fixture(autouse=True)
def _close_sync_thread_connections() -> Iterator[None]:
    """Close what async tests left open in asgiref's shared sync thread.

    Channels' test communicators switch off ``close_old_connections`` while
    they wait, so a ``database_sync_to_async`` call made meanwhile (a
    consumer's or the fast path's snapshot read) keeps its connection; it
    would hold the test database open past the session.
    """
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db: Any) -> Any:
    def make(username: str = "alice", password: str = "pw-Secret-123") -> Any:
        return get_user_model().objects.create_user(username=username, password=password)

    return make


@pytest.fixture
def user(make_user: Any) -> Any:
    return make_user()


@pytest.fixture
def auth_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)}")
    return client
