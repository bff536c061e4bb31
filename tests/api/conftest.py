"""The contract tests' harness: the real web process (uvicorn, with both
event-loop fast paths on) against pytest-django's test database and this
run's Redis db. Tests that use it must be ``transaction=True``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import LiveStack, base_env, redis_flush_keeping_broker


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Like the suite's flush, but keeps the broker's keys the web process may have written."""
    redis_flush_keeping_broker()
    yield
    redis_flush_keeping_broker()


@pytest.fixture(scope="package")
def live_api(django_db_setup: Any) -> Iterator[LiveStack]:
    """The web process with limits out of the way (429 is described, but a
    run spent on it would test nothing else) and a one-second payment timeout."""
    env = base_env(
        RATE_LIMIT_JOIN="100000/m",
        RATE_LIMIT_HOLD="100000/m",
        RATE_LIMIT_REGISTER="100000/h",
        RATE_LIMIT_LOGIN="100000/m",
        PAYMENT_TIMEOUT_SECONDS="1",
    )
    stack = LiveStack(env, name="contract")
    try:
        stack.start("web")
        yield stack
    finally:
        stack.stop()
