"""Operations endpoints: /healthz, /readyz (real PostgreSQL and Redis, and a
Redis that cannot be reached), /metrics."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.test import override_settings

from core.redis import get_redis
from reservations.services import event_create

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_runs(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_postgresql_and_redis_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


@pytest.fixture
def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unreachable_redis(closed_port: int) -> Iterator[None]:
    """Point the project's Redis client at a closed port, then restore it."""
    get_redis.cache_clear()
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port}/0"):
        yield
    get_redis.cache_clear()


def test_readyz_is_503_naming_redis_when_redis_is_unreachable(client, unreachable_redis):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert "redis" in body["detail"]
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] != "ok"


def test_metrics_is_prometheus_text(client):
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# HELP " in text and "# TYPE " in text
    assert "process_cpu_seconds_total" in text or "python_info" in text


def test_an_api_call_with_redis_unreachable_is_503_in_the_error_shape(auth_client, unreachable_redis):
    event = event_create(name="Show", venue_name="Arena", sections="A:1x2:R:1000")

    response = auth_client.post(f"/api/events/{event.id}/queue/")

    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
@pytest.mark.parametrize("method", ["post", "put", "delete", "trace"])
def test_operations_endpoints_are_read_only(client, path, method):
    """Found by the contract test: they answered any method (TRACE 200, POST a CSRF 403)."""
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert set(response["Allow"].split(", ")) == {"GET", "HEAD"}
