"""The organizer's live dashboard in the admin: its figures come from the real
queue (Redis) and the real sales (PostgreSQL); staff only; bad input is a
clear 4xx; the buttons go through the queue's services."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from core.redis import get_redis
from queue_app.keys import rounds_key
from queue_app.services import admission_round_run, queue_join
from queue_app.store import ROUND_LOG_LENGTH, store_round_log, store_round_record
from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Event
from tests.reservations.conftest import seat_ids

pytestmark = pytest.mark.django_db


def _url(event_id: int, tail: str = "") -> str:
    return f"/admin/reservations/event/{event_id}/dashboard/{tail}"


@pytest.fixture
def organizer(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_superuser(username="organizer", password="pw-Secret-123"))
    return client


def _staff(client: Client, username: str, *codenames: str) -> Client:
    user = get_user_model().objects.create_user(username=username, password="pw-Secret-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="reservations", codename__in=codenames))
    client.force_login(user)
    return client


@pytest.fixture
def event(make_event: Any) -> Event:
    """Ten seats at 1000, a queue admitting two a round."""
    return make_event("A:1x10:R:1000", batch=2)


def _figures(client: Client, event: Event, **params: Any) -> dict[str, Any]:
    response = client.get(_url(event.id, "figures/"), params)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_the_figures_are_the_queue_the_seats_the_sales_and_the_failures(organizer, event, users) -> None:
    fans = users(3)
    for fan in fans:
        queue_join(event_id=event.id, user_id=fan.id)
    admission_round_run(event=event)  # admits the first two, the third waits
    first, second, _ = fans
    seats = seat_ids(event)
    paid = hold_create(event=event, user_id=first.id, seat_ids=seats[:1])
    checkout(hold_id=paid.id, user_id=first.id, payment_token="tok_ok", idempotency_key="k1")
    declined = hold_create(event=event, user_id=second.id, seat_ids=seats[1:3])
    with pytest.raises(Exception, match="declined"):
        checkout(hold_id=declined.id, user_id=second.id, payment_token="tok_declined", idempotency_key="k2")

    figures = _figures(organizer, event, minutes=5)

    assert figures["event"] == {
        "id": event.id,
        "name": event.name,
        "status": "on_sale",
        "organizer_status": "on_sale",
        "queue_enabled": True,
        "currency": "KRW",
    }
    assert figures["queue"]["waiting"] == 1
    assert figures["queue"]["admitted"] == 2
    assert figures["queue"]["admitted_per_minute"] == 2
    assert figures["queue"]["batch_max"] == 2
    assert figures["seats"] == {"total": 10, "available": 7, "held": 2, "sold": 1}
    assert figures["sales"] == {
        "revenue": 1000,
        "orders": 1,
        "checkouts_per_minute": 1,
        "payment_failures": 1,
        "payment_failures_per_minute": 1,
    }
    series = figures["series"]
    assert len(series["minutes"]) == 5
    assert series["admitted"][-1] == 2 and sum(series["admitted"]) == 2
    assert series["checkouts"][-1] == 1 and sum(series["checkouts"]) == 1
    assert series["payment_failures"][-1] == 1 and sum(series["payment_failures"]) == 1
    [last_round] = figures["rounds"]
    assert last_round["admitted"] == 2 and last_round["waiting"] == 1 and last_round["batch"] == 2
    text = json.dumps(figures)
    assert not any(fan.username in text for fan in fans)  # aggregates only: nobody's data


def test_a_round_that_changes_nobody_is_not_listed(organizer, event) -> None:
    admission_round_run(event=event)

    assert _figures(organizer, event)["rounds"] == []


def test_the_round_log_keeps_the_last_rounds_newest_first(event) -> None:
    for number in range(ROUND_LOG_LENGTH + 5):
        store_round_record(event_id=event.id, now=1_000_000 + number, entry={"round": number}, admitted=1)

    rounds, per_minute = store_round_log(event_id=event.id)

    assert [r["round"] for r in rounds] == list(range(ROUND_LOG_LENGTH + 4, 4, -1))
    assert sum(per_minute.values()) == ROUND_LOG_LENGTH + 5


def test_the_dashboard_lists_the_last_20_rounds_and_counts_the_last_minute(organizer, event) -> None:
    now = time.time()
    for number in range(30):  # one a second, the newest now
        at = now - 29 + number
        entry = {"round": number, "at": datetime.fromtimestamp(at, UTC).isoformat(), "admitted": 3}
        store_round_record(event_id=event.id, now=at, entry=entry, admitted=3)
    old = now - 90
    entry = {"round": -1, "at": datetime.fromtimestamp(old, UTC).isoformat(), "admitted": 50}
    get_redis().rpush(rounds_key(event.id), json.dumps(entry))  # the oldest, past the minute

    figures = _figures(organizer, event)

    assert [r["round"] for r in figures["rounds"]] == list(range(29, 9, -1))
    assert figures["queue"]["admitted_per_minute"] == 30 * 3


@pytest.mark.parametrize("minutes", ["0", "181", "-1", "abc", "1e3", "9" * 40, "", " 5", "5.0", "١٢"])
def test_a_bad_window_is_400_invalid(organizer, event, minutes) -> None:
    response = organizer.get(_url(event.id, "figures/"), {"minutes": minutes})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and body["fields"]["minutes"]


@pytest.mark.parametrize("minutes", [1, 180])
def test_the_window_sets_the_series_length(organizer, event, minutes) -> None:
    assert len(_figures(organizer, event, minutes=minutes)["series"]["checkouts"]) == minutes


def test_an_unknown_event_is_404(organizer) -> None:
    for event_id in (987654, 10**30):
        response = organizer.get(_url(event_id, "figures/"))
        assert response.status_code == 404 and response.json()["error"] == "not_found"
        assert organizer.get(_url(event_id)).status_code == 404
        assert organizer.post(_url(event_id, "pause/")).json()["error"] == "not_found"


def test_people_who_are_not_staff_are_sent_to_the_admin_login(client, event, make_user) -> None:
    for who in ("anonymous", "shopper"):
        if who == "shopper":
            client.force_login(make_user("shopper"))
        for response in (
            client.get(_url(event.id)),
            client.get(_url(event.id, "figures/")),
            client.post(_url(event.id, "pause/")),
        ):
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert Event.objects.get(pk=event.id).status == "on_sale"


def test_staff_without_the_view_permission_get_403(client, event) -> None:
    staff = _staff(client, "helper")

    assert staff.get(_url(event.id)).status_code == 403
    response = staff.get(_url(event.id, "figures/"))
    assert response.status_code == 403 and response.json()["error"] == "forbidden"


def test_staff_who_may_only_view_watch_but_cannot_steer(client, event) -> None:
    viewer = _staff(client, "viewer", "view_event")

    page = viewer.get(_url(event.id))
    assert page.status_code == 200
    assert b"data-action" not in page.content
    assert viewer.get(_url(event.id, "figures/")).status_code == 200
    response = viewer.post(_url(event.id, "close/"))
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert Event.objects.get(pk=event.id).status == "on_sale"


def test_the_page_has_the_figures_url_and_the_buttons(organizer, event) -> None:
    page = organizer.get(_url(event.id)).content.decode()

    assert _url(event.id, "figures/") in page
    for action in ("pause", "resume", "close"):
        assert f'data-url="{_url(event.id, action + "/")}"' in page
    changelist = organizer.get("/admin/reservations/event/").content.decode()
    assert f'href="{_url(event.id)}"' in changelist


def test_pause_resume_and_close_change_the_sale_through_its_services(
    organizer, event, django_capture_on_commit_callbacks
) -> None:
    steps = [
        ("pause", True, "paused"),
        ("pause", False, "paused"),
        ("resume", True, "on_sale"),
        ("close", True, "closed"),
    ]
    for action, changed, status in steps:
        with django_capture_on_commit_callbacks(execute=True):
            response = organizer.post(_url(event.id, f"{action}/"))
        assert response.json() == {"changed": changed, "organizer_status": status}
        assert Event.objects.get(pk=event.id).status == status
        assert _figures(organizer, event)["event"]["organizer_status"] == status  # not the shared copy of before
    logged = LogEntry.objects.filter(object_id=str(event.id)).values_list("change_message", flat=True)
    assert sorted(logged) == sorted(
        ["Pause from the live dashboard.", "Resume from the live dashboard.", "Close from the live dashboard."]
    )


def test_the_buttons_need_the_csrf_token(event) -> None:
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(get_user_model().objects.create_superuser(username="organizer", password="pw-Secret-123"))

    assert guarded.post(_url(event.id, "pause/")).status_code == 403
    assert Event.objects.get(pk=event.id).status == "on_sale"


def test_an_unknown_action_is_404_and_the_wrong_method_405(organizer, event) -> None:
    response = organizer.post(_url(event.id, "explode/"))

    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert organizer.get(_url(event.id, "pause/")).status_code == 405
    assert organizer.post(_url(event.id, "figures/")).status_code == 405
    assert organizer.post(_url(event.id)).status_code == 405
    assert Event.objects.get(pk=event.id).status == "on_sale"
