"""Booking fixtures: events, logged-in clients, admission through the real Redis key."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.services import token_issue
from core.redis import get_redis
from queue_app.keys import active_key
from reservations.models import Event, Seat
from reservations.services import event_create


@pytest.fixture
def make_event(db: Any) -> Any:
    def make(sections: str = "A:2x5:R:1000,B:2x5:S:500", *, queue_enabled: bool = False, **kwargs: Any) -> Event:
        return event_create(name="Show", venue_name="Arena", sections=sections, queue_enabled=queue_enabled, **kwargs)

    return make


@pytest.fixture
def event(make_event: Any) -> Event:
    return make_event()


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)}")
    return client


@pytest.fixture
def other_client(make_user: Any) -> APIClient:
    return client_for(make_user("bob"))


def admit(event: Event, user_id: int, seconds: float = 600) -> None:
    """Admit through the queue's real Redis key, as the admission round does."""
    get_redis().zadd(active_key(event.id), {str(user_id): time.time() + seconds})


def seat_ids(event: Event, section: str | None = None) -> list[int]:
    seats = Seat.objects.filter(event=event)
    if section:
        seats = seats.filter(section=section)
    return list(seats.order_by("id").values_list("id", flat=True))


def make_users(count: int, prefix: str = "u") -> list[Any]:
    model = get_user_model()
    return [model.objects.create_user(username=f"{prefix}{i}", password="pw-Secret-123") for i in range(count)]
