"""The admission check guarding the real seat-map and hold endpoints, and the queue admin."""

from __future__ import annotations

import time

import pytest

from queue_app.admission import admission_end
from queue_app.services import admission_round_run, queue_join
from reservations.models import Event

pytestmark = pytest.mark.django_db


def test_admission_check_answers_403_until_admitted_and_after_it_ends(make_event, users, client_for):
    event = make_event(batch=1)
    (user,) = users(1)
    client = client_for(user)
    url = f"/api/events/{event.id}/seats/"

    response = client.get(url)
    assert response.status_code == 403
    assert response.json()["error"] == "not_admitted"
    queue_join(event_id=event.id, user_id=user.id)
    assert client.get(url).status_code == 403  # waiting is not admitted
    admission_round_run(event=event)
    assert client.get(url).status_code == 200
    admission_end(event_id=event.id, user_id=user.id)
    assert client.get(url).status_code == 403
    hold = client.post(f"/api/events/{event.id}/holds/", {"quantity": 1, "grade": "R"}, format="json")
    assert hold.status_code == 403 and hold.json()["error"] == "not_admitted"
    assert client.get("/api/events/999999/seats/").status_code == 404


def test_admission_check_lets_everyone_into_a_queue_disabled_event(make_event, auth_client):
    event = make_event(queue_enabled=False)
    assert auth_client.get(f"/api/events/{event.id}/seats/").status_code == 200


def test_lapsed_admission_is_refused(make_event, users, client_for):
    event = make_event(batch=1, admission_seconds=1)
    (user,) = users(1)
    queue_join(event_id=event.id, user_id=user.id)
    admission_round_run(event=event, now=time.time() - 2)  # admitted until one second ago
    assert client_for(user).get(f"/api/events/{event.id}/seats/").status_code == 403


def test_admin_pauses_resumes_and_shows_live_figures(make_event, users, admin_client):
    event = make_event(batch=1)
    for user in users(3):
        queue_join(event_id=event.id, user_id=user.id)
    admission_round_run(event=event)

    changelist = admin_client.get("/admin/reservations/event/")
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert "Waiting" in html and "Admitted" in html and "Admission rate" in html
    assert 'class="field-queue_waiting">2<' in html
    assert 'class="field-queue_admitted">1<' in html

    response = admin_client.post(
        "/admin/reservations/event/", {"action": "queue_pause", "_selected_action": [event.id]}, follow=True
    )
    assert response.status_code == 200
    event.refresh_from_db()
    assert event.status == Event.Status.PAUSED
    admin_client.post("/admin/reservations/event/", {"action": "queue_resume", "_selected_action": [event.id]})
    event.refresh_from_db()
    assert event.status == Event.Status.ON_SALE

    change = admin_client.get(f"/admin/reservations/event/{event.id}/change/")
    assert "Live queue" in change.content.decode()
