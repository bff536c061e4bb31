"""Hold expiry: lazy (reads and new holds) and the beat job (bulk, SKIP LOCKED)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from reservations.holds import hold_create, holds_expire
from reservations.models import Hold, Seat
from reservations.tasks import holds_expire as holds_expire_task
from tests.reservations.conftest import make_users, seat_ids
from ticketing.celery import app


def _lapse(hold: Hold) -> None:
    past = timezone.now() - timedelta(seconds=1)
    Hold.objects.filter(pk=hold.pk).update(expires_at=past)
    Seat.objects.filter(hold=hold).update(held_until=past)


@pytest.mark.django_db
def test_the_job_releases_lapsed_holds_and_leaves_live_ones(event, user, make_user):
    ids = seat_ids(event)
    lapsed = hold_create(event=event, user_id=user.id, seat_ids=ids[:2])
    live = hold_create(event=event, user_id=make_user("bob").id, seat_ids=ids[2:4])
    _lapse(lapsed)
    assert holds_expire_task.apply().get() == 1
    assert Hold.objects.get(pk=lapsed.pk).status == "expired"
    assert (
        Seat.objects.filter(id__in=ids[:2], status="available", hold__isnull=True, held_until__isnull=True).count() == 2
    )
    assert Hold.objects.get(pk=live.pk).status == "active"
    assert Seat.objects.filter(id__in=ids[2:4], status="held").count() == 2
    assert holds_expire() == 0


@pytest.mark.django_db
def test_the_job_does_not_free_seats_a_new_hold_reclaimed(event, user, make_user):
    ids = seat_ids(event)
    lapsed = hold_create(event=event, user_id=user.id, seat_ids=ids[:1])
    _lapse(lapsed)
    newer = hold_create(event=event, user_id=make_user("bob").id, seat_ids=ids[:1])  # lazy expiry
    assert holds_expire() == 1
    assert Seat.objects.get(pk=ids[0]).hold_id == newer.id


@pytest.mark.django_db
def test_the_job_works_in_batches(make_event):
    event = make_event("A:1x30:R:100")
    for user, seat in zip(make_users(25), seat_ids(event), strict=False):
        _lapse(hold_create(event=event, user_id=user.id, seat_ids=[seat]))
    assert holds_expire(batch=10) == 25
    assert not Seat.objects.filter(event=event, status="held").exists()


def test_the_job_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["expire-holds"]
    assert entry["task"] == "reservations.tasks.holds_expire"
    assert entry["schedule"].total_seconds() <= 5
    app.loader.import_default_modules()
    assert "reservations.tasks.holds_expire" in app.tasks


@pytest.mark.django_db(transaction=True)
def test_the_job_skips_holds_locked_by_others(event, user, make_user):
    ids = seat_ids(event)
    busy = hold_create(event=event, user_id=user.id, seat_ids=ids[:1])
    free = hold_create(event=event, user_id=make_user("bob").id, seat_ids=ids[1:2])
    _lapse(busy)
    _lapse(free)
    locked, done = threading.Event(), threading.Event()

    def blocker():
        with transaction.atomic():
            list(Hold.objects.select_for_update().filter(pk=busy.pk))
            locked.set()
            done.wait(10)
        connection.close()

    thread = threading.Thread(target=blocker)
    thread.start()
    try:
        assert locked.wait(10)
        assert holds_expire() == 1  # does not wait for the locked one
    finally:
        done.set()
        thread.join()
    assert Hold.objects.get(pk=free.pk).status == "expired"
    assert Hold.objects.get(pk=busy.pk).status == "active"
    assert holds_expire() == 1
