"""Server side of the booking pages: auth, who may see which page, QR codes."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client
from django.utils import timezone

from core.redis import get_redis
from reservations.models import Event, Hold, Order, Seat, Ticket
from reservations.services import event_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> Event:
    return event_create(name="Page Night", venue_name="Hall", sections="A:2x5:R:150000,B:1x4:S:90000")


@pytest.fixture
def logged_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def test_signup_creates_the_account_logs_in_and_follows_next(client: Client, event: Event) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newfan",
            "email": "fan@example.com",
            "password": "a-Long-pass-123",
            "password_again": "a-Long-pass-123",
            "next": f"/events/{event.id}/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/events/{event.id}/"
    user = get_user_model().objects.get(username="newfan")
    assert user.check_password("a-Long-pass-123")
    assert int(client.session["_auth_user_id"]) == user.id


def test_signup_refuses_a_taken_name_mismatched_or_weak_passwords(client: Client, user: Any) -> None:
    taken = client.post(
        "/accounts/signup/",
        {"username": user.username, "password": "a-Long-pass-123", "password_again": "a-Long-pass-123"},
    )
    assert "That username is already taken." in taken.content.decode()
    mismatch = client.post(
        "/accounts/signup/", {"username": "bob", "password": "a-Long-pass-123", "password_again": "other-pass-456"}
    )
    assert "The two passwords differ." in mismatch.content.decode()
    weak = client.post("/accounts/signup/", {"username": "bob", "password": "123", "password_again": "123"})
    assert weak.status_code == 200
    assert "too short" in weak.content.decode()
    assert get_user_model().objects.filter(username="bob").count() == 0


def test_signup_never_redirects_off_site(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password": "a-Long-pass-123",
            "password_again": "a-Long-pass-123",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == "/"


def test_login_and_logout(client: Client, user: Any) -> None:
    response = client.post("/accounts/login/", {"username": user.username, "password": "pw-Secret-123"})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    assert client.get("/accounts/logout/").status_code == 405  # logging out is a POST (CSRF-protected)
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session


def test_event_list_and_page_show_status_prices_and_book_button(client: Client, event: Event) -> None:
    listing = client.get("/").content.decode()
    assert "Page Night" in listing
    assert "On sale" in listing
    page = client.get(f"/events/{event.id}/").content.decode()
    assert "₩150,000" in page  # the server-side text, in the page's language (the JS writes the same)
    assert 'id="book-button"' in page
    assert f'href="/events/{event.id}/queue/"' in page
    assert client.get("/events/999999/").status_code == 404


def test_closed_event_has_no_book_button(client: Client, event: Event) -> None:
    Event.objects.filter(pk=event.pk).update(status=Event.Status.CLOSED)
    page = client.get(f"/events/{event.id}/").content.decode()
    assert "The sale is closed." in page
    assert 'id="book-button"' not in page


def test_booking_pages_need_login(client: Client, event: Event) -> None:
    for path in (f"/events/{event.id}/queue/", f"/events/{event.id}/seats/", "/tickets/", "/holds/1/checkout/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_seat_map_sends_a_person_who_is_not_admitted_to_the_waiting_page(logged_in: Client, event: Event) -> None:
    response = logged_in.get(f"/events/{event.id}/seats/")
    assert response.status_code == 302
    assert response["Location"] == f"/events/{event.id}/queue/"


def test_event_without_queue_goes_straight_to_the_seat_map(logged_in: Client) -> None:
    event = event_create(name="Open Night", venue_name="Hall", sections="A:1x4:R:1000", queue_enabled=False)
    response = logged_in.get(f"/events/{event.id}/queue/")
    assert response["Location"] == f"/events/{event.id}/seats/"
    assert logged_in.get(f"/events/{event.id}/seats/").status_code == 200


def _sell(event: Event, user: Any, code: str) -> Ticket:
    """A sold seat with its ticket, written directly: these tests are about the QR page, not checkout."""
    seat = event.seats.filter(status=Seat.Status.AVAILABLE).first()
    hold = Hold.objects.create(event=event, user=user, status=Hold.Status.CHECKED_OUT, expires_at=timezone.now())
    order = Order.objects.create(event=event, user=user, hold=hold, total=seat.grade.price, currency=event.currency)
    Seat.objects.filter(pk=seat.pk).update(status=Seat.Status.SOLD)
    return Ticket.objects.create(order=order, event=event, user=user, seat=seat, code=code, price=seat.grade.price)


def test_ticket_qr_is_an_svg_of_the_persons_own_valid_ticket(
    logged_in: Client, user: Any, make_user: Any, event: Event
) -> None:
    mine = _sell(event, user, "AbCdEfGhIjKlMnOp_-12")
    response = logged_in.get(f"/tickets/{mine.code}/qr.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")
    theirs = _sell(event, make_user("mallory"), "ZyXwVuTsRqPoNmLk_-98")
    assert logged_in.get(f"/tickets/{theirs.code}/qr.svg").status_code == 404
    assert logged_in.get("/tickets/short/qr.svg").status_code == 404
    Ticket.objects.filter(pk=mine.pk).update(status=Ticket.Status.VOID)
    assert logged_in.get(f"/tickets/{mine.code}/qr.svg").status_code == 404


def test_auth_pages_do_not_send_people_back_to_themselves(client: Client) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/signup/"' in page
    assert "next=/accounts/login/" not in page


def test_unknown_pages_get_the_sites_own_not_found_page(client: Client) -> None:
    response = client.get("/events/999999/")
    assert response.status_code == 404
    assert "We could not find that page" in response.content.decode()
    api = client.get("/api/nothing-here/")
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"


def test_a_session_is_read_from_redis_and_survives_losing_redis(
    logged_in: Client, user: Any, django_assert_num_queries: Any
) -> None:
    key = logged_in.session.session_key
    with django_assert_num_queries(0):
        assert SessionStore(key).get("_auth_user_id") == str(user.pk)

    get_redis().flushdb()

    assert SessionStore(key).get("_auth_user_id") == str(user.pk)  # read back from PostgreSQL
    assert logged_in.get("/tickets/").status_code == 200
