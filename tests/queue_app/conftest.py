"""Queue test fixtures: events with small seat maps, users with tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.services import token_issue
from queue_app.selectors import event_sale_snapshot_forget
from reservations.models import Event
from reservations.services import event_create


@pytest.fixture(autouse=True)
def _fresh_snapshots() -> Iterator[None]:
    """Each test sees its own events, not a snapshot cached by the last one."""
    event_sale_snapshot_forget()
    yield
    event_sale_snapshot_forget()


@pytest.fixture
def make_event(db: Any) -> Callable[..., Event]:
    def make(sections: str = "A:5x10:R:100000", **options: Any) -> Event:
        return event_create(name="Stadium night", venue_name="Stadium", sections=sections, **options)

    return make


@pytest.fixture
def users(db: Any) -> Callable[[int], list[Any]]:
    def make(count: int, prefix: str = "fan") -> list[Any]:
        model = get_user_model()
        return [model.objects.create_user(username=f"{prefix}{i}", password="pw-Secret-123") for i in range(count)]

    return make


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    def make(user: Any) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)}")
        return client

    return make


@pytest.fixture
def staff_client_for(db: Any) -> Callable[[], Any]:
    """A Django test client logged in as a superuser (the organizer's admin)."""
    from django.test import Client

    def make() -> Any:
        client = Client()
        client.force_login(get_user_model().objects.create_superuser(username="organizer", password="pw-Secret-123"))
        return client

    return make
