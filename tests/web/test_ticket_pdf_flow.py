"""Buy a seat, then download its PDF ticket from My tickets, in a real
Chromium against the live product: once in English, once as a Korean
browser (locale ko-KR), whose pages, ticket and PDF are Korean."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from reservations.services import event_create
from tests.web.browser import PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shot = Callable[[Page, str], Path]


def _pdf_text(page: Page) -> tuple[str, str]:
    """Download the first ticket's PDF from My tickets: (its text, the ticket code the page shows)."""
    link = page.locator("a.ticket-pdf").first
    with page.expect_download() as info:
        link.click()
    download = info.value
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    assert re.fullmatch(r"ticket-\d+\.pdf", download.suggested_filename)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    code = page.locator("code.ticket-code").first.inner_text()
    return " ".join(reader.pages[0].extract_text().split()), code


def test_an_english_buyer_downloads_the_pdf_ticket_from_my_tickets(
    page: Page, register: Callable[[str], Any], shot: Shot
) -> None:
    event = event_create(name="Jazz Night", venue_name="Blue Hall", sections="A:2x6:R:80000", queue_enabled=False)
    register("fiona")
    log_in(page, "fiona")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"/events/{event.id}/")
    page.get_by_role("link", name="Book").click()
    page.get_by_label("Seats", exact=True).select_option("1")
    page.get_by_role("button", name="Find best seats").click()
    page.get_by_role("link", name="Continue to payment").click()
    page.get_by_role("button", name="Pay ₩80,000").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    page.get_by_role("navigation").get_by_role("link", name="My tickets").click()
    expect(page.get_by_role("link", name=re.compile("^Download the PDF ticket for Section A"))).to_be_visible()
    text, code = _pdf_text(page)
    assert code in text
    assert "Jazz Night" in text and "Blue Hall" in text and "SECTION A ROW 1" in text and "₩80,000" in text


@pytest.fixture
def korean_page(browser: Browser, browser_context_args: dict[str, Any]) -> Iterator[Page]:
    """A Chromium whose language is Korean (navigator.language and Accept-Language: ko-KR)."""
    context = browser.new_context(**{**browser_context_args, "locale": "ko-KR"})
    yield context.new_page()
    context.close()


def test_a_korean_browser_buys_and_downloads_a_korean_pdf_ticket(
    korean_page: Page, register: Callable[[str], Any], shot: Shot
) -> None:
    event = event_create(name="서울 재즈 나이트", venue_name="블루홀", sections="A:2x6:R:80000", queue_enabled=False)
    register("minji")
    page = korean_page
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    page.get_by_label("사용자 이름").fill("minji")
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_role("link", name="내 티켓")).to_be_visible()
    page.goto(f"/events/{event.id}/")
    expect(page.get_by_text("1인당 최대 3매")).to_be_visible()
    page.get_by_role("link", name="예매하기").click()
    expect(page.get_by_role("heading", name="좌석을 선택하세요")).to_be_visible()
    expect(page.get_by_role("navigation", name="이동 경로")).to_contain_text("좌석 선택")
    page.get_by_label("좌석 수", exact=True).select_option("2")
    page.get_by_role("button", name="좋은 좌석 찾기").click()
    expect(page.locator("#seats-message")).to_have_text("좌석이 선점되었습니다. 시간이 끝나기 전에 결제를 마쳐 주세요.")
    expect(page.locator("#hold-seats li").first).to_contain_text("A구역 1열")
    shot(page, "20-seats-held-ko")
    page.get_by_role("link", name="결제하러 가기").click()
    expect(page.get_by_role("heading", name="결제", exact=True)).to_be_visible()
    shot(page, "21-checkout-ko")
    page.get_by_role("button", name="₩160,000 결제하기").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    expect(page.get_by_role("heading", name="예매가 완료되었습니다!")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="내 티켓").click()
    expect(page.get_by_role("heading", name="내 티켓")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator(".order-meta .badge").first).to_have_text("결제 완료")
    expect(page.locator("a.ticket-pdf")).to_have_count(2)
    expect(page.locator("a.ticket-pdf").first).to_have_text("PDF 내려받기")
    page.wait_for_function("[...document.querySelectorAll('img.qr')].every(i => i.complete && i.naturalWidth > 0)")
    shot(page, "26-my-tickets-ko")
    text, code = _pdf_text(page)
    assert code in text
    assert "서울 재즈 나이트" in text and "블루홀" in text
    assert "구역 A 열 1" in text and "티켓 코드" in text and "₩80,000" in text
    assert re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일", text)
    # The switcher brings English back, and the API's details follow the page.
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
