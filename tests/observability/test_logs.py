"""Logs people can use: one JSON object a line with the request's context,
a request id that goes in, comes back and reaches the Celery task it
queued, and periodic jobs that say nothing while they have nothing to do."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from channels.testing import HttpCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

from accounts.services import token_issue
from core.redis import get_redis
from core.request_context import EVENT_ID, REQUEST_ID, USER_ID, LogContextFilter
from queue_app.keys import meta_key
from queue_app.services import queue_join
from reservations.services import event_create
from tests.faults.conftest import hold_seats, wait_for
from tests.live import LiveStack
from tests.reservations.conftest import seat_ids
from ticketing.asgi import application

FIELDS = ["time", "level", "logger", "message", "request_id", "user_id", "event_id"]


def _emitter(formatter_name: str) -> tuple[logging.Logger, io.StringIO]:
    """A logger writing through the console handler's filter and the named formatter of ``settings.LOGGING``."""
    spec = settings.LOGGING["formatters"][formatter_name]
    formatter = import_string(spec["()"])() if "()" in spec else logging.Formatter(spec["format"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"tests.logs.{formatter_name}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def _in_request(request_id: str, user_id: int, event_id: int, action: Callable[[], None]) -> None:
    """Run ``action`` in a context of its own, as a request's task runs."""

    def run() -> None:
        REQUEST_ID.set(request_id)
        USER_ID.set(user_id)
        EVENT_ID.set(event_id)
        action()

    contextvars.Context().run(run)


def _outside_requests(action: Callable[[], None]) -> None:
    """Run ``action`` where nothing is known (the suite's own context may hold a test client's request)."""
    contextvars.Context().run(action)


def test_a_json_log_line_is_one_object_with_the_request_context():
    logger, stream = _emitter("json")

    _in_request("req-1", 7, 42, lambda: logger.warning("seat %s refused", 12, extra={"seat_id": 12}))
    _outside_requests(lambda: logger.info("nothing known"))

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(first)[: len(FIELDS)] == FIELDS
    assert first["level"] == "WARNING" and first["logger"] == "tests.logs.json"
    assert first["message"] == "seat 12 refused"
    assert (first["request_id"], first["user_id"], first["event_id"], first["seat_id"]) == ("req-1", 7, 42, 12)
    assert datetime.fromisoformat(first["time"]).utcoffset().total_seconds() == 0
    assert (second["request_id"], second["user_id"], second["event_id"]) == (None, None, None)


def test_a_json_log_line_carries_the_traceback_and_stays_one_line():
    logger, stream = _emitter("json")

    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logger.exception("it broke")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "ERROR" and "ValueError: bad" in record["exc_info"]


def test_the_plain_line_ends_with_what_is_known():
    logger, stream = _emitter("plain")

    _in_request("req-2", 5, 9, lambda: logger.info("held"))
    _outside_requests(lambda: logger.info("idle"))

    held, idle = stream.getvalue().splitlines()
    assert held.endswith("tests.logs.plain: held [request=req-2 user=5 event=9]")
    assert idle.endswith("tests.logs.plain: idle")


# -- X-Request-ID -------------------------------------------------------------


async def _request_id(*headers: tuple[bytes, bytes], path: str = "/healthz") -> str:
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", b"testserver"), *headers])
    response = await communicator.get_response(timeout=5)
    await communicator.wait(timeout=5)
    returned = [value.decode() for name, value in response["headers"] if name.lower() == b"x-request-id"]
    assert len(returned) == 1
    return returned[0]


@pytest.mark.django_db(transaction=True)
async def test_a_request_id_given_comes_back_and_one_is_made_otherwise():
    assert await _request_id((b"x-request-id", b"lb-7f3a.42")) == "lb-7f3a.42"
    assert await _request_id((b"x-request-id", b"lb-7f3a.42"), path="/api/no-such-thing/") == "lb-7f3a.42"
    made = await _request_id()
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert made != await _request_id()
    for unusable in (b"has space", b"x" * 129, b'quote"d'):  # replaced, never logged as given
        assert re.fullmatch(r"[0-9a-f]{32}", await _request_id((b"x-request-id", unusable)))


def _json_lines(live: LiveStack) -> list[dict[str, Any]]:
    """The live processes' JSON log lines (Celery's start-up banner is plain text)."""
    found = []
    for line in live.log_path.read_text().splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


@pytest.mark.django_db(transaction=True)
def test_the_request_id_reaches_the_celery_task_the_request_queued(stack, make_user):
    user = make_user("mailed")
    user.email = "mailed@example.com"
    user.save()
    token = token_issue(user=user)
    event = event_create(name="Show", venue_name="Arena", sections="A:1x4:R:1000", queue_enabled=False)
    live = stack(LOG_FORMAT="json", LOG_LEVEL="INFO")
    live.start("web", "worker")
    hold = hold_seats(live.url, token, event.id, seat_ids(event)[:1])
    request = urllib.request.Request(  # noqa: S310 (loopback URL)
        f"{live.url}/api/holds/{hold['id']}/checkout/",
        data=json.dumps({"payment_token": "tok_ok"}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Token {token}",
            "Idempotency-Key": "k-1",
            "X-Request-ID": "checkout-abc-123",
        },
    )

    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback URL)
        assert response.status == 201
        assert response.headers["X-Request-ID"] == "checkout-abc-123"

    def sent() -> dict[str, Any] | None:
        lines = [r for r in _json_lines(live) if "confirmation e-mail(s) sent" in r["message"]]
        return lines[0] if lines else None

    record = wait_for(sent, timeout=30)
    assert record is not None, live.log_path.read_text()[-3000:]
    assert record["request_id"] == "checkout-abc-123"
    assert record["task"] == "reservations.tasks.confirmations_send" and record["task_id"]
    assert record["logger"] == "reservations.orders"


@pytest.mark.django_db(transaction=True)
def test_periodic_jobs_with_nothing_to_do_log_nothing_at_info(stack, make_user):
    event = event_create(name="Show", venue_name="Arena", sections="A:1x4:R:1000", queue_enabled=True)
    ticks = {
        name: "0.2"
        for name in (
            "ADMISSION_TICK_SECONDS",
            "HOLD_EXPIRY_TICK_SECONDS",
            "PAYMENT_RECONCILE_TICK_SECONDS",
            "CONFIRMATION_SWEEP_TICK_SECONDS",
        )
    }
    # The event is idle: its round runs every tick only with the idle pause as short as the tick.
    live = stack(LOG_FORMAT="json", LOG_LEVEL="INFO", ADMISSION_IDLE_ROUND_SECONDS="0.2", **ticks)
    live.start("worker", "beat")

    def rounds() -> int:
        return int(get_redis().hget(meta_key(event.id), "round") or 0)

    assert wait_for(lambda: rounds() >= 1, timeout=60), live.log_path.read_text()[-3000:]  # the worker is up
    started = len(_json_lines(live))
    first = rounds()
    assert wait_for(lambda: rounds() >= first + 10, timeout=60)  # ten more rounds (and the other jobs) ran

    idle = [r for r in _json_lines(live)[started:] if r["level"] == "INFO"]
    assert idle == []

    fan = get_user_model().objects.create_user(username="fan", password="pw-Secret-123")
    queue_join(event_id=event.id, user_id=fan.id)  # something to do: the next round admits her

    def said() -> list[dict[str, Any]]:
        return [r for r in _json_lines(live)[started:] if r["level"] == "INFO"]

    lines = wait_for(said, timeout=30)
    assert [(r["logger"], r["event_id"]) for r in lines] == [("queue_app.services", event.id)]
    assert "admitted 1" in lines[0]["message"]
