"""The admission check guarding an endpoint, and the queue admin."""

from __future__ import annotations

import time

import pytest
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from queue_app.admission import admission_end, admission_require
from queue_app.services import admission_round_run, queue_join
from reservations.models import Event
from reservations.selectors import event_get
from ticketing.errors import NotFound


class SeatsLikeApi(APIView):
    """Shaped like the booking side's seat endpoint: 404 first, then the admission check."""

    def get(self, request: Request, event_id: int) -> Response:
        event = event_get(event_id=event_id)
        if event is None:
            raise NotFound("No such event.")
        admission_require(event=event, user_id=request.user.id)
        return Response({"seats": []})


urlpatterns = [path("api/events/<int:event_id>/seats/", SeatsLikeApi.as_view())]

pytestmark = pytest.mark.django_db


@pytest.mark.urls(__name__)
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
    assert client.get("/api/events/999999/seats/").status_code == 404


@pytest.mark.urls(__name__)
def test_admission_check_lets_everyone_into_a_queue_disabled_event(make_event, auth_client):
    event = make_event(queue_enabled=False)
    assert auth_client.get(f"/api/events/{event.id}/seats/").status_code == 200


@pytest.mark.urls(__name__)
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
