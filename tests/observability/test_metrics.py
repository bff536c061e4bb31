"""``/metrics``: the contract's series, each moved by its event, summed over
processes, with bounded labels.

The suite's own process keeps its metrics in memory (no
``PROMETHEUS_MULTIPROC_DIR``); the cross-process tests start real processes
on a directory of their own, as ``dev.py run`` does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.core import mail
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from accounts.authentication import CachedTokenAuthentication
from accounts.services import token_issue
from core.metrics import metrics_text, outcomes_counted
from queue_app.services import admission_round_run, queue_join
from reservations.checkout import checkout_begin
from reservations.holds import hold_create
from reservations.models import Payment
from reservations.orders import confirmations_send
from reservations.reconciliation import payments_reconcile
from reservations.services import event_create
from tests.faults.conftest import api, wait_for
from tests.reservations.conftest import admit, client_for, seat_ids
from ticketing.asgi import application

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "ticketing.json"
CONTRACT_SERIES = [
    "ticketing_queue_waiting",
    "ticketing_queue_admitted",
    "ticketing_admitted_total",
    "ticketing_holds_total",
    "ticketing_checkouts_total",
    "ticketing_confirmations_total",
    "ticketing_payments_reconciled_total",
    "ticketing_websocket_connections",
    "ticketing_http_request_duration_seconds_bucket",
]


def samples(text: str | bytes | None = None) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition (this process's /metrics when none is given), by name and labels."""
    if text is None:
        text = metrics_text()
    if isinstance(text, bytes):
        text = text.decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(name: str, text: str | bytes | None = None, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


#: ``value`` from async tests: a scrape reads the database (the queue gauges' events).
value_async = database_sync_to_async(value)
samples_async = database_sync_to_async(samples)


@pytest.mark.django_db
def test_metrics_lists_every_series_of_the_contract(client):
    text = client.get("/metrics").content.decode()

    for name in CONTRACT_SERIES:
        assert f"# TYPE {name.removesuffix('_bucket')} " in text, name


# -- each counter moves when its event happens ---------------------------


@pytest.mark.django_db
def test_a_hold_counts_as_held_and_a_refused_one_by_its_error_code(make_user):
    event = event_create(name="Show", venue_name="Arena", sections="A:1x4:R:1000")
    alice, bob = make_user("alice"), make_user("bob")
    admit(event, alice.id)
    admit(event, bob.id)
    held, refused = (
        value("ticketing_holds_total", result="held"),
        value("ticketing_holds_total", result="seat_unavailable"),
    )
    seats = seat_ids(event)[:2]

    assert (
        client_for(alice).post(f"/api/events/{event.id}/holds/", {"seat_ids": seats}, format="json").status_code == 201
    )
    assert client_for(bob).post(f"/api/events/{event.id}/holds/", {"seat_ids": seats}, format="json").status_code == 409

    assert value("ticketing_holds_total", result="held") == held + 1
    assert value("ticketing_holds_total", result="seat_unavailable") == refused + 1


def test_a_store_out_of_reach_counts_as_unavailable_and_anything_else_as_error():
    registry = CollectorRegistry()
    attempts = Counter("attempts", "Attempts by result.", ["result"], registry=registry)

    @outcomes_counted(attempts, ok=lambda _: "done")
    def attempt(failure: Exception | None) -> None:
        if failure is not None:
            raise failure

    attempt(None)
    for failure in (redis.ConnectionError("refused"), psycopg.OperationalError("pool"), KeyError("bug")):
        with pytest.raises(type(failure)):
            attempt(failure)
    counts = {labels["result"]: n for name, labels, n in _samples_of(registry) if name == "attempts_total"}
    assert counts == {"done": 1, "unavailable": 2, "error": 1}


def _samples_of(registry: CollectorRegistry) -> list[tuple[str, dict, float]]:
    return [(s.name, s.labels, s.value) for family in registry.collect() for s in family.samples]


@pytest.mark.django_db
def test_a_declined_checkout_counts_as_payment_declined_and_a_sale_as_paid(user, settings):
    settings.PAYMENT_TIMEOUT_SECONDS = 0.4
    event = event_create(name="Show", venue_name="Arena", sections="A:1x4:R:1000")
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:2])
    client = client_for(user)
    declined, paid = (
        value("ticketing_checkouts_total", result="payment_declined"),
        value("ticketing_checkouts_total", result="paid"),
    )

    def pay(card: str) -> int:
        url = f"/api/holds/{hold.id}/checkout/"
        return client.post(url, {"payment_token": card}, format="json", HTTP_IDEMPOTENCY_KEY="k1").status_code

    assert pay("tok_declined") == 402
    assert value("ticketing_checkouts_total", result="payment_declined") == declined + 1
    assert pay("tok_ok") == 201
    assert value("ticketing_checkouts_total", result="paid") == paid + 1


@pytest.mark.django_db
def test_a_confirmation_sent_counts_as_sent(user, django_capture_on_commit_callbacks):
    user.email = "alice@example.com"
    user.save()
    event = event_create(name="Show", venue_name="Arena", sections="A:1x4:R:1000")
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:1])
    sent = value("ticketing_confirmations_total", result="sent")
    with django_capture_on_commit_callbacks(execute=False):  # the kick's task is not run here
        response = client_for(user).post(
            f"/api/holds/{hold.id}/checkout/", {"payment_token": "tok_ok"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )
    assert response.status_code == 201

    assert confirmations_send() == 1

    assert len(mail.outbox) == 1
    assert value("ticketing_confirmations_total", result="sent") == sent + 1


@pytest.mark.django_db
def test_a_reconciliation_counts_by_its_outcome(user):
    event = event_create(name="Show", venue_name="Arena", sections="A:1x4:R:1000")
    hold = hold_create(event=event, user_id=user.id, seat_ids=seat_ids(event)[:1])
    begun = checkout_begin(hold_id=hold.id, user_id=user.id, idempotency_key="lost", payment_token="tok_ok")
    Payment.objects.filter(pk=begun.payment.id).update(updated_at=timezone.now() - timedelta(hours=1))
    failed = value("ticketing_payments_reconciled_total", outcome="failed")

    assert payments_reconcile() == {"failed": 1}  # the process died before the charge: nothing captured

    assert value("ticketing_payments_reconciled_total", outcome="failed") == failed + 1


@pytest.mark.django_db
def test_admission_counts_the_admitted_and_the_gauges_read_the_queue_from_redis(make_user):
    event = event_create(name="Show", venue_name="Arena", sections="A:1x9:R:1000", queue_enabled=True, batch=2)
    people = [make_user(f"fan{i}") for i in range(5)]
    for person in people:
        queue_join(event_id=event.id, user_id=person.id)
    label = str(event.id)
    before = value("ticketing_admitted_total", event=label)
    assert value("ticketing_queue_waiting", event=label) == 5
    assert value("ticketing_queue_admitted", event=label) == 0

    admission_round_run(event=event)

    assert value("ticketing_admitted_total", event=label) == before + 2
    assert value("ticketing_queue_waiting", event=label) == 3
    assert value("ticketing_queue_admitted", event=label) == 2


@pytest.mark.django_db(transaction=True)
async def test_an_open_websocket_counts_until_it_closes(make_user):
    user = await database_sync_to_async(make_user)("socket")
    event = await database_sync_to_async(event_create)(
        name="Show", venue_name="Arena", sections="A:1x4:R:1000", queue_enabled=True
    )
    key = await database_sync_to_async(token_issue)(user=user)
    path = f"/ws/events/{event.id}/queue/"
    before = await value_async("ticketing_websocket_connections")
    socket = WebsocketCommunicator(application, path, headers=[(b"authorization", f"Token {key}".encode())])

    connected, _ = await socket.connect(timeout=5)

    assert connected
    assert await value_async("ticketing_websocket_connections") == before + 1
    await socket.disconnect()
    assert await value_async("ticketing_websocket_connections") == before


# -- the HTTP histogram: URL patterns, fast paths included -----------------


async def _request(method: str, path: str, *headers: tuple[bytes, bytes]) -> dict:
    communicator = HttpCommunicator(application, method, path, headers=[(b"host", b"testserver"), *headers])
    response = await communicator.get_response(timeout=5)
    await communicator.wait(timeout=5)
    return response


async def _count(route: str, method: str, status: int) -> float:
    return await value_async(
        "ticketing_http_request_duration_seconds_count", route=route, method=method, status=str(status)
    )


@pytest.mark.django_db(transaction=True)
async def test_requests_are_labelled_with_their_url_pattern_on_the_fast_paths_and_in_django(make_user):
    user = await database_sync_to_async(make_user)("labels")
    key = await database_sync_to_async(token_issue)(user=user)
    await database_sync_to_async(CachedTokenAuthentication().authenticate_credentials)(key.encode())
    event = await database_sync_to_async(event_create)(
        name="Show", venue_name="Arena", sections="A:1x4:R:1000", queue_enabled=True
    )
    queue = "/api/events/<int:event_id>/queue/"
    token = (b"authorization", f"Token {key}".encode())
    before = {
        "join": await _count(queue, "POST", 201),
        "anonymous": await _count(queue, "POST", 401),
        "detail": await _count("/api/events/<int:event_id>/", "GET", 200),
        "unknown": await _count("<unmatched>", "GET", 404),
        "odd": await _count("<unmatched>", "other", 404),
    }

    join = await _request("POST", f"/api/events/{event.id}/queue/", token)  # the queue's fast path
    anonymous = await _request("POST", "/api/events/123/queue/")  # no token: Django answers
    detail = await _request("GET", f"/api/events/{event.id}/", token)  # Django's view
    unknown = await _request("GET", f"/api/no/such/{event.id}/thing/")
    odd = await _request("BREW", "/coffee/")  # a made-up method: one label for all of them

    assert [join["status"], anonymous["status"], detail["status"], unknown["status"]] == [201, 401, 200, 404]
    assert await _count(queue, "POST", 201) == before["join"] + 1
    assert await _count(queue, "POST", 401) == before["anonymous"] + 1
    assert await _count("/api/events/<int:event_id>/", "GET", 200) == before["detail"] + 1
    assert await _count("<unmatched>", "GET", 404) == before["unknown"] + 1
    assert await _count("<unmatched>", "other", odd["status"]) == before["odd"] + 1
    routes = {dict(labels).get("route") for (_, labels) in await samples_async()}
    assert not any(str(event.id) in route or "123" in route for route in routes if route), routes


@pytest.mark.django_db(transaction=True)
async def test_durations_land_in_millisecond_buckets():
    await _request("GET", "/healthz")

    buckets = {
        float(dict(labels)["le"]): count
        for (name, labels), count in (await samples_async()).items()
        if name == "ticketing_http_request_duration_seconds_bucket" and dict(labels)["route"] == "/healthz"
    }
    assert min(buckets) == 0.001 and 30.0 in buckets  # a millisecond to tens of seconds
    assert buckets[float("inf")] >= 1


# -- summed over processes -------------------------------------------------

_INCREMENT = """
import sys
import django
django.setup()
from reservations.metrics import holds_total
holds_total.labels("held").inc(int(sys.argv[1]))
print("counted", flush=True)
sys.stdin.readline()  # stay alive until the test has seen both processes count
"""


def test_a_counter_incremented_in_two_processes_reads_as_their_sum(tmp_path, db):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "ticketing.settings_test"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _INCREMENT, str(n)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in (3, 4)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "counted"
        # Both are alive now, each with its own file; the scrape adds them up.
        writers = {path.name for path in tmp_path.glob("counter_*.db")}
        text = metrics_text(str(tmp_path))
    finally:
        for process in processes:
            process.communicate("\n", timeout=30)

    assert writers >= {f"counter_{p.pid}.db" for p in processes}
    assert value("ticketing_holds_total", text, result="held") == 7


# -- the dashboard reads series that exist ---------------------------------


@pytest.mark.django_db
def test_every_series_the_grafana_dashboard_reads_is_exposed(client):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    names = {name for expr in exprs for name in re.findall(r"\bticketing_[a-z_]+", expr)}
    text = client.get("/metrics").content.decode()

    assert len(names) >= 9
    for name in names:
        assert f"# TYPE {re.sub(r'_(bucket|count|sum)$', '', name)} " in text, name


# -- the live product: two uvicorn workers and a Celery worker -------------


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:  # noqa: S310 (loopback)
        return response.read().decode()


@pytest.mark.django_db(transaction=True)
def test_live_metrics_sum_both_web_workers_and_the_celery_worker(stack, make_user):
    event = event_create(name="Show", venue_name="Arena", sections="A:1x20:R:1000", queue_enabled=True)
    people = [make_user(f"live{i}") for i in range(6)]
    tokens = [token_issue(user=person) for person in people]
    live = stack(ADMISSION_TICK_SECONDS="0.5", LOG_LEVEL="WARNING")
    live.start("web@2", "worker:booking@1", "beat")
    listing = {"route": "/api/events/", "method": "GET", "status": "200"}
    requests = 40
    for _ in range(requests):  # new connections: the two web processes share them
        assert api(live.url, "GET", "/api/events/")[0] == 200
    for token in tokens:
        assert api(live.url, "POST", f"/api/events/{event.id}/queue/", token=token)[0] == 201
    label = str(event.id)

    def admitted() -> str:
        text = _scrape(live.url)
        return text if value("ticketing_admitted_total", text, event=label) == len(tokens) else ""

    text = wait_for(admitted, timeout=30)

    assert value("ticketing_admitted_total", text, event=label) == 6  # counted in the Celery worker's pool
    assert value("ticketing_http_request_duration_seconds_count", text, **listing) == requests
    assert value(
        "ticketing_http_request_duration_seconds_count",
        text,
        route="/api/events/<int:event_id>/queue/",
        method="POST",
        status="201",
    ) == len(tokens)
    histogram_writers = {p.name for p in Path(live.metrics_dir).glob("histogram_*.db")}
    counter_writers = {p.name for p in Path(live.metrics_dir).glob("counter_*.db")}
    assert len(histogram_writers) >= 2, histogram_writers  # both uvicorn workers answered
    assert counter_writers, "the Celery worker's pool wrote no counter"


@pytest.mark.django_db(transaction=True)
def test_with_metrics_off_nothing_is_recorded_and_metrics_answers_404(stack):
    live = stack(METRICS_ENABLED="0")
    live.start("web")
    for _ in range(5):
        assert api(live.url, "GET", "/api/events/")[0] == 200

    status, body = api(live.url, "GET", "/metrics")

    assert status == 404 and body["error"] == "not_found"
    assert list(Path(live.metrics_dir).glob("*.db")) == []  # no instrument wrote a value


@pytest.mark.django_db(transaction=True)
def test_a_worker_serves_its_own_processes_sum_on_its_metrics_port(stack):
    from tests.live import free_port

    port = free_port()
    live = stack(METRICS_WORKER_PORT=str(port))
    live.start("worker:booking@2")

    def scrape() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                return response.read().decode()
        except OSError:
            return ""

    text = wait_for(scrape, timeout=60)

    assert 'ticketing_payments_reconciled_total{outcome="completed"} 0.0' in text  # the pool's counters
    assert "ticketing_queue_waiting" not in text  # the web's /metrics reads Redis, not each worker
