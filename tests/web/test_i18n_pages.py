"""The pages in Korean and English: chosen from Accept-Language, switched
with the header's buttons (a cookie), <html lang> right, the JavaScript
catalogue of the page's language, error pages too."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from reservations.services import event_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> Any:
    return event_create(name="Page Night", venue_name="Hall", sections="A:2x5:R:150000")


def test_a_korean_browser_gets_korean_pages_and_an_english_one_english(client: Client, event: Any) -> None:
    korean = client.get("/", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.8").content.decode()
    assert '<html lang="ko">' in korean
    assert "다가오는 공연" in korean and "예매 중" in korean and "₩150,000부터" in re.sub(r"<[^>]+>", "", korean)
    assert "Upcoming events" not in korean
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR,en;q=0.5").content.decode()
    assert '<html lang="en">' in english and "Upcoming events" in english and "다가오는 공연" not in english
    assert '<html lang="en">' in client.get("/").content.decode()  # no header: English
    page = client.get(f"/events/{event.id}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "1인당 최대 3매" in page and "예매하기" in page and "전체 10석 중" in page


def test_the_switcher_sets_the_language_for_every_page_after(client: Client, event: Any) -> None:
    page = client.get(f"/events/{event.id}/").content.decode()
    assert 'name="language" value="ko"' in page and ">한국어</button>" in page
    switched = client.post("/i18n/setlang/", {"language": "ko", "next": f"/events/{event.id}/"})
    assert switched.status_code == 302 and switched["Location"] == f"/events/{event.id}/"
    assert switched.cookies["django_language"].value == "ko"
    again = client.get(f"/events/{event.id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="ko">' in again and "예매하기" in again
    assert 'value="ko" lang="ko" class="link-button" aria-current="true" disabled' in again
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert '<html lang="en">' in client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()


def test_the_javascript_catalogue_is_the_pages_language_and_cached_by_version(client: Client) -> None:
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    url = re.search(r'<script src="(/jsi18n/\?l=ko&amp;v=[0-9a-f]{12})"', page)[1].replace("&amp;", "&")
    catalogue = client.get(url, HTTP_ACCEPT_LANGUAGE="ko")
    assert catalogue.status_code == 200 and "javascript" in catalogue["Content-Type"]
    body = catalogue.content.decode()
    assert "PDF \\ub0b4\\ub824\\ubc1b\\uae30" in body or "PDF 내려받기" in body  # "Download PDF"
    assert "max-age=86400" in catalogue["Cache-Control"]
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "/jsi18n/?l=en&amp;v=" in english


def test_error_pages_speak_the_language_too(client: Client) -> None:
    missing = client.get("/events/999999/", HTTP_ACCEPT_LANGUAGE="ko")
    assert missing.status_code == 404
    assert '<html lang="ko">' in missing.content.decode() and "페이지를 찾을 수 없습니다" in missing.content.decode()
    with translation.override("ko"):
        for template, words in (
            ("500.html", "저희 쪽에서 문제가 발생했습니다"),
            ("503.html", "잠시 후 돌아오겠습니다"),
        ):
            page = render_to_string(template)
            assert '<html lang="ko">' in page and words in page


def test_sign_up_form_labels_and_errors_in_korean(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "kim", "password": "a-Long-pass-123", "password_again": "b-Long-pass-123"},
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    page = response.content.decode()
    assert "사용자 이름" in page and "비밀번호 확인" in page and "두 비밀번호가 서로 다릅니다." in page


def test_the_door_scanner_is_korean_for_a_korean_browser(client: Client, event: Any, make_user: Any) -> None:
    staff = make_user("gate")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    page = client.get("/door/", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9").content.decode()
    assert '<html lang="ko">' in page
    for words in (
        "<title>입장 확인 ·",
        "이 입구의 공연",
        "모든 공연",
        "카메라 켜기",
        "티켓 코드",
        "입장 처리",
        "최근 스캔",
    ):
        assert words in page, words
    assert "Event at this door" not in page and "Start the camera" not in page
    url = re.search(r'<script src="(/jsi18n/\?l=ko&amp;v=[0-9a-f]{12})"', page)[1].replace("&amp;", "&")
    catalogue = client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for verdict in (
        "입장 완료",
        "이미 입장함",
        "무효 티켓",
        "다른 공연",
        "없는 티켓",
        "%(seat)s, %(time)s에 %(name)s 님이 입장 처리",
    ):
        assert json.dumps(verdict)[1:-1] in catalogue, verdict  # the catalogue writes Hangul as \\uXXXX
    english = client.get("/door/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en">' in english and "Event at this door" in english and "이 입구의 공연" not in english


def test_the_pre_queue_pages_are_korean_for_a_korean_browser(client: Client, make_user: Any) -> None:
    """The event page's pre-queue offer and the waiting page's pre-queue
    panel (countdown to the draw, entrants, entry, the commitment line) and
    the words its script writes, in Korean."""
    event = event_create(
        name="Draw Night", venue_name="Hall", sections="A:2x5:R:150000", opens_in=3600, prequeue_minutes=30
    )
    detail = client.get(f"/events/{event.id}/", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9").content.decode()
    opens = event.prequeue_opens_at.isoformat()
    assert "사전 대기열 참여하기" in detail
    assert f'사전 대기열은 <time datetime="{opens}" data-local="datetime">{opens}</time>에 열립니다.' in detail
    assert "Join the pre-queue" not in detail and "The pre-queue opens at" not in detail
    client.force_login(make_user("drawfan"))
    page = client.get(f"/events/{event.id}/queue/", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9").content.decode()
    assert '<html lang="ko">' in page
    for words in (
        '<p class="cta-line">추첨까지</p>',
        '예매가 시작되는 <time id="pre-opens-at" data-local="datetime"></time>에 추첨으로',
        ">사전 대기 인원</span>",
        ">내 응모 번호</span>",
        '그 지문(SHA-256)은 다음과 같습니다: <code class="commitment" id="pre-commitment"></code>.',
        f'<a href="/api/events/{event.id}/draw/">추첨 결과 공개 기록</a>',
        '추첨으로 순서가 정해진 내 사전 대기열 응모 번호: <code class="commitment" id="drawn-entry"></code>.',
    ):
        assert words in page, words
    assert "The draw is in" not in page and "Your entry" not in page and "Anyone can check" not in page
    url = re.search(r'<script src="(/jsi18n/\?l=ko&amp;v=[0-9a-f]{12})"', page)[1].replace("&amp;", "&")
    catalogue = client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for words in (
        "%(name)s 사전 대기열에 있습니다",
        "사전 대기열 나가기",
        "추첨이 끝났습니다. 아래가 내 대기 순서입니다.",
        "예매가 시작되었습니다. 추첨으로 사전 대기열의 순서를 정하는 중입니다…",
    ):
        assert json.dumps(words)[1:-1] in catalogue, words
