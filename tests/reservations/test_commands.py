"""``create_event`` and ``demo``: output, options, and all-or-nothing on bad input."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from reservations.models import Event, PriceGrade, Seat, Venue

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_event_prints_the_id_as_json_on_its_last_line():
    output = run("create_event", "--name", "Stadium Night", "--sections", "A:10x20:R:150000,B:5x10:S:90000")

    last = json.loads(output.strip().splitlines()[-1])
    event = Event.objects.get(pk=last["id"])
    assert event.name == "Stadium Night"
    assert event.seats.count() == 250
    assert dict(event.price_grades.values_list("code", "price")) == {"R": 150000, "S": 90000}
    assert event.queue_enabled is True
    # --opens-in 0 (the default): on sale at once.
    assert event.sale_opens_at <= timezone.now()
    assert event.public_status(seats_unsold=250) == "on_sale"


def test_create_event_applies_every_option():
    before = timezone.now()
    output = run(
        "create_event",
        "--name",
        "Later",
        "--sections",
        "A:1x5:R:1000",
        "--venue",
        "Small Hall",
        "--opens-in",
        "3600",
        "--batch",
        "7",
        "--interval",
        "3",
        "--cap",
        "40",
        "--max-per-user",
        "2",
        "--hold-seconds",
        "120",
        "--admission-seconds",
        "300",
        "--currency",
        "USD",
    )

    event = Event.objects.select_related("venue").get(pk=json.loads(output.splitlines()[-1])["id"])
    assert event.venue.name == "Small Hall"
    assert before + timedelta(seconds=3590) < event.sale_opens_at < timezone.now() + timedelta(seconds=3610)
    assert (event.admission_batch_size, event.admission_interval_seconds, event.admission_cap) == (7, 3, 40)
    assert (event.max_tickets_per_user, event.hold_seconds, event.admission_seconds) == (2, 120, 300)
    assert event.currency == "USD"
    assert event.public_status(seats_unsold=5) == "scheduled"


def test_create_event_opens_a_prequeue_before_the_sale_with_a_seed_of_its_own(client):
    output = run(
        "create_event",
        "--name",
        "Drawn",
        "--sections",
        "A:1x5:R:1000",
        "--opens-in",
        "3600",
        "--prequeue-minutes",
        "30",
    )

    event = Event.objects.get(pk=json.loads(output.splitlines()[-1])["id"])
    assert event.sale_opens_at - event.prequeue_opens_at == timedelta(minutes=30)
    assert client.get(f"/api/events/{event.id}/").json()["prequeue_opens_at"] == event.prequeue_opens_at.isoformat()
    other = Event.objects.get(
        pk=json.loads(run("create_event", "--name", "Plain", "--sections", "A:1x1:R:9").splitlines()[-1])["id"]
    )
    assert other.prequeue_opens_at is None
    assert client.get(f"/api/events/{other.id}/").json()["prequeue_opens_at"] is None
    assert len(event.draw_seed) == 64 and int(event.draw_seed, 16) >= 0
    assert event.draw_seed != other.draw_seed  # drawn with secrets for each event, before any entry


def test_create_event_no_queue_admits_everyone():
    output = run("create_event", "--name", "Open", "--sections", "A:1x2:R:1000", "--no-queue")

    assert Event.objects.get(pk=json.loads(output.splitlines()[-1])["id"]).queue_enabled is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sections", "A:10x20:R"], "expected NAME:ROWSxSEATS:GRADE:PRICE"),
        (["--sections", "A:1x1:R:100,B:1x1:R:200"], "two prices"),
        (["--sections", "A:1x1:R:100", "--batch", "0"], "--batch must be at least 1"),
        (["--sections", "A:1x1:R:100", "--opens-in", "-5"], "--opens-in must not be negative"),
        (["--sections", "A:1x1:R:100", "--currency", "EURO"], "currency: Ensure this value has at most 3"),
        (["--sections", "A:1x1:R:100", "--prequeue-minutes", "-1"], "--prequeue-minutes must not be negative"),
        (["--sections", "A:1x1:R:100", "--prequeue-minutes", "5", "--no-queue"], "on an event with a waiting queue"),
    ],
)
def test_create_event_refuses_bad_input_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run("create_event", "--name", "Broken", "--venue", "Nowhere", *args)

    assert not Event.objects.exists()
    assert not Venue.objects.exists()
    assert not Seat.objects.exists()
    assert not PriceGrade.objects.exists()


def test_demo_creates_an_admin_and_an_event_and_says_how_to_log_in():
    output = run("demo")

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert authenticate(username="admin", password="admin") == admin
    event = Event.objects.get()
    assert event.seats.count() == 10 * 20 + 15 * 25 + 20 * 30
    assert event.public_status(seats_unsold=1) == "on_sale"
    assert "/admin/" in output and "'admin'" in output


def test_demo_twice_keeps_one_admin_and_one_event_and_the_admin_password():
    run("demo")
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-Secret-9")
    admin.save()

    output = run("demo")

    assert get_user_model().objects.filter(username="admin").count() == 1
    assert Event.objects.count() == 1
    assert authenticate(username="admin", password="changed-Secret-9") is not None
    assert "as set when it was created" in output
