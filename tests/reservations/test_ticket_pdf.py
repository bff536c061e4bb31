"""PDF tickets: one page per ticket with event, venue, date in the event's
time zone, seat, grade, price and the code, in the reader's language; only
for the ticket's owner (404 for anyone else, unknown and malformed ids)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from reservations.checkout import checkout
from reservations.holds import hold_create
from reservations.models import Ticket
from reservations.refunds import order_refund
from reservations.services import event_create
from reservations.ticket_pdf import FONT
from tests.reservations.conftest import seat_ids

pytestmark = pytest.mark.django_db

STARTS_AT = datetime(2031, 3, 1, 10, 0, tzinfo=UTC)  # 19:00 in Seoul, a Saturday


@pytest.fixture
def concert(settings):
    settings.TIME_ZONE = "Asia/Seoul"
    return event_create(
        name="서울 재즈 페스티벌 2031",
        venue_name="올림픽공원 핸드볼경기장",
        sections="A:2x5:VIP:154000",
        starts_at=STARTS_AT,
    )


@pytest.fixture
def tickets(concert, user):
    hold = hold_create(event=concert, user_id=user.id, seat_ids=seat_ids(concert)[:2])
    order = checkout(hold_id=hold.id, user_id=user.id, payment_token="tok_ok", idempotency_key="k").order
    return list(Ticket.objects.filter(order=order).select_related("seat").order_by("id"))


def _pages(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    return [page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_owner_gets_one_page_with_everything_a_door_needs_in_english(auth_client, tickets):
    ticket = tickets[0]
    response = auth_client.get(f"/api/tickets/{ticket.id}/pdf/")
    (page,) = _pages(response)
    text = _flat(page)
    assert ticket.code in text
    assert "서울 재즈 페스티벌 2031" in text and "올림픽공원 핸드볼경기장" in text
    assert "Saturday, March 1, 2031" in text
    assert "7:00 PM (Korean Standard Time)" in text  # the event's zone, not UTC's 10:00 AM
    assert f"SECTION A ROW 1 SEAT {ticket.seat.number} GRADE VIP" in text
    assert "₩154,000" in text
    assert response["Content-Disposition"] == f'attachment; filename="ticket-{ticket.id}.pdf"'
    assert response["Content-Language"] == "en"
    assert response["Cache-Control"] == "private, no-store"
    other = _flat(_pages(auth_client.get(f"/api/tickets/{tickets[1].id}/pdf/"))[0])
    assert tickets[1].code in other and ticket.code not in other


def test_a_korean_reader_gets_it_in_korean(auth_client, tickets):
    ticket = tickets[0]
    response = auth_client.get(f"/api/tickets/{ticket.id}/pdf/", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.5")
    text = _flat(_pages(response)[0])
    assert response["Content-Language"] == "ko"
    assert ticket.code in text
    assert "2031년 3월 1일 토요일" in text
    assert "오후 7:00 (대한민국 표준시)" in text
    assert f"구역 A 열 1 좌석 {ticket.seat.number} 등급 VIP" in text
    for label in ("공연", "장소", "날짜", "시간", "가격", "예매자", "티켓 코드"):
        assert label in text, label
    assert "Section" not in text and "Korean Standard Time" not in text


def test_accept_application_pdf_is_served_and_errors_stay_json(auth_client, other_client, tickets):
    ticket = tickets[0]
    assert _pages(auth_client.get(f"/api/tickets/{ticket.id}/pdf/", HTTP_ACCEPT="application/pdf"))
    refused = other_client.get(f"/api/tickets/{ticket.id}/pdf/", HTTP_ACCEPT="application/pdf")
    assert refused.status_code == 404 and refused["Content-Type"] == "application/json"
    assert refused.json() == {"error": "not_found", "detail": "No such ticket."}


@pytest.mark.parametrize(
    "path",
    [
        "/api/tickets/{other}/pdf/",  # another person's ticket
        "/api/tickets/999999999/pdf/",  # no such ticket
        "/api/tickets/99999999999999999999999999999/pdf/",  # past bigint
        "/api/tickets/0/pdf/",
        "/api/tickets/-1/pdf/",
        "/api/tickets/1.0/pdf/",
        "/api/tickets/abc/pdf/",
        "/api/tickets/%00/pdf/",
        "/api/tickets/%ED%95%9C/pdf/",  # Hangul
        "/api/tickets/{code}/pdf/",  # a ticket's code is not its id
        "/api/tickets/{other}/pdf/../../",
    ],
)
def test_anyone_elses_unknown_or_malformed_ids_are_404_and_nothing_leaks(
    other_client, tickets, concert, path, django_assert_max_num_queries
):
    url = path.format(other=tickets[0].id, code=tickets[0].code)
    with django_assert_max_num_queries(3):
        response = other_client.get(url, HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found" and set(body) == {"error", "detail"}
    leaked = response.content.decode()
    assert tickets[0].code not in leaked and concert.name not in leaked


def test_the_404_detail_is_korean_for_a_korean_reader(other_client, tickets):
    response = other_client.get(f"/api/tickets/{tickets[0].id}/pdf/", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.json() == {"error": "not_found", "detail": "그런 티켓이 없습니다."}


def test_it_needs_a_login(api_client, tickets):
    response = api_client.get(f"/api/tickets/{tickets[0].id}/pdf/")
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"


def test_a_void_ticket_prints_without_its_code_as_qr_and_says_void(auth_client, tickets):
    order_refund(order_id=tickets[0].order_id)
    text = _flat(_pages(auth_client.get(f"/api/tickets/{tickets[0].id}/pdf/"))[0])
    assert "VOID" in text and "no longer admits anyone" in text


def test_the_vendored_font_draws_every_character_a_ticket_prints(concert, tickets):
    """Labels, Korean dates and the test event's Hangul are all in the subset
    (a missing glyph would print as an empty box)."""
    from core.l10n import date_text, time_text
    from reservations.selectors import event_time_zone

    cmap = TTFont(FONT).getBestCmap()
    zone = event_time_zone(concert)
    printed = concert.name + concert.venue.name + tickets[0].code + "₩154,000"
    printed += date_text(STARTS_AT, zone, "ko") + time_text(STARTS_AT, zone, "ko")
    missing = {char for char in printed if not char.isspace() and ord(char) not in cmap}
    assert not missing
    assert TTFont(FONT)["name"].getDebugName(1) == "Ticketing Sans KR"  # the OFL's reserved name is not used


def test_pdfs_are_limited_per_person(auth_client, other_client, tickets, settings):
    settings.RATE_LIMIT_PDF = "2/m"
    url = f"/api/tickets/{tickets[0].id}/pdf/"
    assert [auth_client.get(url).status_code for _ in range(2)] == [200, 200]
    refused = auth_client.get(url, HTTP_ACCEPT_LANGUAGE="ko")
    assert refused.status_code == 429 and refused["Content-Type"] == "application/json"
    assert refused.json() == {"error": "rate_limited", "detail": "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요."}
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert other_client.get(url).status_code == 404  # someone else's 404 comes first and is not counted
