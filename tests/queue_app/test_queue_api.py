"""The queue's HTTP contract: join, state, leave, errors and limits."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from queue_app.services import admission_round_run
from reservations.models import Event, Seat

pytestmark = pytest.mark.django_db

STATE_FIELDS = {"state", "position", "waiting_total", "eta_seconds", "likely_sold_out", "admitted_until", "ws"}


def test_join_returns_the_contract_state_and_is_idempotent(make_event, users, client_for):
    event = make_event()
    first, second = (client_for(u) for u in users(2))
    url = f"/api/events/{event.id}/queue/"

    response = first.post(url)
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= STATE_FIELDS
    assert body["state"] == "waiting"
    assert body["position"] == 1
    assert body["waiting_total"] == 1
    assert body["eta_seconds"] >= 0
    assert body["likely_sold_out"] is False
    assert body["ws"] == f"/ws/events/{event.id}/queue/"

    assert second.post(url).json()["position"] == 2
    again = first.post(url)
    assert again.status_code == 200
    assert again.json()["position"] == 1
    assert again.json()["waiting_total"] == 2
    assert second.get(url).json()["position"] == 2


def test_rejoin_after_admission_reads_admitted(make_event, users, client_for):
    event = make_event(batch=5)
    (user,) = users(1)
    client = client_for(user)
    url = f"/api/events/{event.id}/queue/"
    client.post(url)
    admission_round_run(event=event)

    response = client.post(url)
    assert response.status_code == 200
    assert response.json()["state"] == "admitted"
    assert response.json()["admitted_until"] is not None
    assert client.get(url).json()["state"] == "admitted"


def test_leave_then_state_and_expired_after_leaving_an_admission(make_event, users, client_for):
    event = make_event(batch=1)
    a, b = users(2)
    url = f"/api/events/{event.id}/queue/"
    client_for(a).post(url)
    client_for(b).post(url)
    admission_round_run(event=event)  # admits a

    assert client_for(b).delete(url).status_code == 204
    assert client_for(b).get(url).json()["state"] == "not_in_queue"
    assert client_for(a).delete(url).status_code == 204
    assert client_for(a).get(url).json()["state"] == "expired"
    rejoin = client_for(a).post(url)
    assert rejoin.status_code == 201
    assert rejoin.json()["state"] == "waiting"


def test_unknown_event_is_404_and_anonymous_is_401(api_client, auth_client):
    assert auth_client.post("/api/events/999999/queue/").json()["error"] == "not_found"
    assert auth_client.get("/api/events/999999/queue/").status_code == 404
    assert auth_client.delete("/api/events/999999/queue/").status_code == 404
    assert api_client.post("/api/events/1/queue/").status_code == 401


def test_sale_not_open_carries_opens_at(make_event, auth_client):
    event = make_event(opens_in=3600)
    response = auth_client.post(f"/api/events/{event.id}/queue/")
    assert response.status_code == 409
    assert response.json()["error"] == "sale_not_open"
    assert response.json()["opens_at"] == event.sale_opens_at.isoformat()


def test_sold_out_and_closed_sales_refuse_joins(make_event, auth_client):
    sold = make_event(sections="A:1x2:R:1000")
    Seat.objects.filter(event=sold).update(status=Seat.Status.SOLD)
    response = auth_client.post(f"/api/events/{sold.id}/queue/")
    assert (response.status_code, response.json()["error"]) == (409, "sold_out")

    closed = make_event()
    Event.objects.filter(pk=closed.pk).update(status=Event.Status.CLOSED)
    response = auth_client.post(f"/api/events/{closed.id}/queue/")
    assert (response.status_code, response.json()["error"]) == (409, "sale_closed")

    ended = make_event(sale_closes_at=timezone.now() + timedelta(seconds=1))
    Event.objects.filter(pk=ended.pk).update(
        sale_opens_at=timezone.now() - timedelta(hours=1), sale_closes_at=timezone.now() - timedelta(seconds=1)
    )
    assert auth_client.post(f"/api/events/{ended.id}/queue/").json()["error"] == "sale_closed"


def test_join_rate_limit_answers_429_with_retry_after(make_event, auth_client, settings):
    settings.RATE_LIMIT_JOIN = "3/m"
    event = make_event()
    url = f"/api/events/{event.id}/queue/"
    assert [auth_client.post(url).status_code for _ in range(3)] == [201, 200, 200]
    response = auth_client.post(url)
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_queue_disabled_event_admits_every_logged_in_user(make_event, auth_client):
    event = make_event(queue_enabled=False)
    url = f"/api/events/{event.id}/queue/"
    assert auth_client.get(url).json()["state"] == "admitted"
    response = auth_client.post(url)
    assert response.status_code == 200
    assert response.json()["state"] == "admitted"


def test_eta_uses_batch_over_interval_until_a_rate_is_measured(make_event, users, client_for):
    event = make_event(batch=2, interval=2)
    clients = [client_for(u) for u in users(8)]
    url = f"/api/events/{event.id}/queue/"
    for client in clients:
        client.post(url)
    # position 8 at the fallback rate batch/interval = 1 person/s
    assert clients[7].get(url).json()["eta_seconds"] == 8

    now = time.time()
    admission_round_run(event=event, now=now)  # first admission: no rate sample yet
    admission_round_run(event=event, now=now + 4)  # 2 admitted in 4 s: measured 0.5 person/s
    body = clients[7].get(url).json()
    assert body["position"] == 4
    assert body["eta_seconds"] == 8
