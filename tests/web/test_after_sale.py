"""After the sale in a real Chromium against the live server: a buyer
cancels from My tickets and the seat is on sale again; a sold-out waiting
page hears the seats come back; door staff check tickets in with the
scanner page, typed and through the camera (a fake camera showing a
ticket's QR code, read by the vendored decoder)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import qrcode
from django.contrib.auth import get_user_model
from playwright.sync_api import APIRequestContext, Browser, BrowserType, Page, expect

from reservations.models import Ticket
from reservations.services import event_create
from tests.live import ARTIFACTS
from tests.web.browser import PASSWORD, log_in, wait_admitted
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shot = Callable[[Page, str], Path]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _buy(api: APIRequestContext, event_id: int, count: int, key: str) -> dict:
    hold = api.post(f"/api/events/{event_id}/holds/", data={"quantity": count, "grade": "R"})
    assert hold.status == 201, hold.text()
    paid = api.post(
        f"/api/holds/{hold.json()['id']}/checkout/", data={"payment_token": "tok_ok"}, headers={"Idempotency-Key": key}
    )
    assert paid.status == 201, paid.text()
    return paid.json()


def _staff(username: str) -> None:
    get_user_model().objects.filter(username=username).update(is_staff=True)


#: What the cancellation flow reads and clicks, per page language.
CANCEL_WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "log_in": ("Username", "Password", "Log in"),
        "hold": "Hold 1 seat",
        "continue": "Continue to payment",
        "pay": re.compile(r"^Pay "),
        "until": re.compile(r"^You can cancel until .+\.$"),
        "cancel": "Cancel this order",
        "question": re.compile(r"^Cancel order #\d+\? Its ticket stops working at once, .* This cannot be undone\.$"),
        "confirm_label": re.compile(r"^Confirm the cancellation of order \d+$"),
        "yes": "Yes, cancel the order",
        "keep": "Keep my tickets",
        "done": re.compile(r"^Order #\d+ is cancelled\."),
        "badge": "Cancelled and refunded",
        "refund": re.compile(r"^Refunded ₩70,000 to your card on .+\.$"),
    },
    "ko": {
        "log_in": ("사용자 이름", "비밀번호", "로그인"),
        "hold": "1석 선점하기",
        "continue": "결제하러 가기",
        "pay": re.compile(r"결제하기$"),
        "until": re.compile(r"^\d{4}년 .+까지 취소할 수 있습니다\.$"),
        "cancel": "예매 취소하기",
        "question": re.compile(
            r"^예매를 취소할까요\? \(주문 #\d+\) 티켓은 즉시 사용할 수 없게 되고 .*카드로 ₩70,000 환불됩니다\. "
        ),
        "confirm_label": re.compile(r"^주문 \d+ 예매 취소 확인$"),
        "yes": "예, 예매를 취소합니다",
        "keep": "취소하지 않기",
        "done": re.compile(r"^주문 #\d+ 예매가 취소되었습니다\."),
        "badge": "취소·환불 완료",
        "refund": re.compile(r"^\d{4}년 .+에 카드로 ₩70,000 환불되었습니다\.$"),
    },
}


@pytest.fixture(params=["en", "ko"])
def buyer_page(
    request: pytest.FixtureRequest, browser: Browser, browser_context_args: dict[str, Any]
) -> Iterator[tuple[str, Page]]:
    """The page language and a Chromium in it: English (en-US) or Korean
    (ko-KR: navigator.language and Accept-Language)."""
    context = browser.new_context(**{**browser_context_args, "locale": {"en": "en-US", "ko": "ko-KR"}[request.param]})
    yield request.param, context.new_page()
    context.close()


def test_a_buyer_cancels_from_my_tickets_and_the_seat_is_on_sale_again(
    buyer_page: tuple[str, Page], register: Callable[[str], Any], shot: Shot
) -> None:
    lang, page = buyer_page
    words = CANCEL_WORDS[lang]
    event = event_create(
        name="Jazz Night", venue_name="Blue Note", sections="A:2x6:R:70000", queue_enabled=False, cancel_hours=48
    )
    register("carol")
    username, password, button = words["log_in"]
    page.goto("/accounts/login/")
    page.get_by_label(username).fill("carol")
    page.get_by_label(password).fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_text("carol", exact=True)).to_be_visible()
    page.goto(f"/events/{event.id}/seats/")
    seat = page.locator("button.seat").nth(3)
    seat_id = seat.get_attribute("data-seat-id")
    seat.click()
    page.get_by_role("button", name=words["hold"]).click()
    page.get_by_role("link", name=words["continue"]).click()
    page.get_by_label(re.compile("4242")).check()
    page.get_by_role("button", name=words["pay"]).click()
    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))

    page.goto("/tickets/")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    card = page.locator("article.order").first
    expect(card.get_by_text(words["until"])).to_be_visible()
    card.get_by_role("button", name=words["cancel"]).click()
    confirm = card.get_by_role("group", name=words["confirm_label"])
    expect(confirm.locator("p")).to_have_text(words["question"])
    expect(confirm.get_by_role("button", name=words["keep"])).to_be_visible()
    expect(card.get_by_role("button", name=words["cancel"])).to_be_hidden()
    page.wait_for_function("[...document.querySelectorAll('img.qr')].every(i => i.complete && i.naturalWidth > 0)")
    shot(page, "20-cancel-confirm" if lang == "en" else "cancel-confirm-ko")
    confirm.get_by_role("button", name=words["yes"]).click()

    expect(page.locator("#orders-message")).to_have_text(words["done"])
    card = page.locator("article.order").first
    expect(card.locator(".badge")).to_have_text(words["badge"])
    expect(card.locator("li.ticket-void")).to_have_count(1)
    expect(card.locator(".refund-line")).to_have_text(words["refund"])
    expect(card.get_by_role("button", name=words["cancel"])).to_have_count(0)
    shot(page, "21-order-cancelled" if lang == "en" else "order-cancelled-ko")

    page.goto(f"/events/{event.id}/seats/")
    back = page.locator(f'button.seat[data-seat-id="{seat_id}"]')
    expect(back).not_to_have_class(re.compile(r"is-taken"))
    expect(back).to_have_attribute("aria-disabled", "false")


def test_a_sold_out_waiting_page_hears_the_seats_come_back(
    page: Page, register: Callable[[str], APIRequestContext], shot: Shot
) -> None:
    event = event_create(
        name="Tiny Gig Two", venue_name="Attic", sections="A:1x2:R:30000", batch=5, interval=1, cap=1, cancel_hours=24
    )
    buyer = register("first")
    assert buyer.post(f"/api/events/{event.id}/queue/").status in (200, 201)
    wait_admitted(buyer, event.id)
    register("second")
    log_in(page, "second")
    page.goto(f"/events/{event.id}/queue/")
    expect(page.locator("#position")).to_have_text("1")  # the cap is the buyer's: second waits

    order = _buy(buyer, event.id, 2, "all-of-it")
    expect(page.locator("#queue-message")).to_contain_text("Sold out", timeout=15_000)
    expect(page.locator("#queue-message")).to_contain_text("Keep this page open")
    expect(page.locator("#conn-text")).to_have_text("Listening for returned seats")
    shot(page, "22-sold-out-listening")

    assert buyer.post(f"/api/orders/{order['id']}/cancel/").status == 200
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/$"), timeout=15_000)
    expect(page.locator("button.seat:not(.is-taken)")).to_have_count(2)


@pytest.fixture
def sold(register: Callable[[str], APIRequestContext]) -> tuple[Any, list[str]]:
    """An event without a queue and a buyer's three tickets (codes in seat order)."""
    event = event_create(
        name="Stadium Night", venue_name="Olympic Stadium", sections="A:2x10:R:99000", queue_enabled=False
    )
    buyer = register("holder")
    order = _buy(buyer, event.id, 3, "three")
    return event, [t["code"] for t in order["tickets"]]


def test_door_staff_check_tickets_in_on_a_phone(
    new_context: Callable[..., Any], register: Callable[[str], Any], sold: tuple[Any, list[str]], shot: Shot
) -> None:
    event, (first, second, third) = sold
    other = event_create(name="Other Show", venue_name="Hall", sections="A:1x2:R:1000", queue_enabled=False)
    register("gate")
    _staff("gate")
    phone = new_context(**PHONE).new_page()
    log_in(phone, "gate")
    phone.get_by_role("link", name="Door scanner").click()
    expect(phone).to_have_url(re.compile(r"/door/$"))
    phone.get_by_label("Event at this door").select_option(str(event.id))
    verdict, detail = phone.locator("#scan-verdict"), phone.locator("#scan-detail")

    def typed(code: str) -> None:
        phone.get_by_label("Ticket code").fill(code)
        phone.get_by_role("button", name="Check in").click()

    typed(first)
    expect(verdict).to_have_text("Checked in")
    expect(detail).to_contain_text("Section A, row 1")
    expect(phone.locator("#scan-result")).to_have_class(re.compile(r"scan-ok"))
    shot(phone, "18-door-scanner-green")

    typed(first)
    expect(verdict).to_have_text("Already checked in")
    expect(detail).to_contain_text("by gate")
    expect(phone.locator("#scan-result")).to_have_class(re.compile(r"scan-bad"))
    shot(phone, "19-door-scanner-red")

    Ticket.objects.filter(code=second).update(status=Ticket.Status.VOID)
    typed(second)
    expect(verdict).to_have_text("Void ticket")
    typed("A" * 22)
    expect(verdict).to_have_text("Unknown ticket")
    typed("https://example.com/not-a-ticket")
    expect(verdict).to_have_text("Not a ticket")
    phone.get_by_label("Event at this door").select_option(str(other.id))
    typed(third)
    expect(verdict).to_have_text("Another event")
    assert Ticket.objects.get(code=third).status == "valid"
    expect(phone.locator("#scan-log li")).to_have_count(6)
    assert Ticket.objects.get(code=first).status == "checked_in"


@pytest.fixture
def korean_phone(browser: Browser, browser_context_args: dict[str, Any]) -> Iterator[Page]:
    """A phone-sized Chromium whose language is Korean (ko-KR)."""
    context = browser.new_context(**{**browser_context_args, **PHONE, "locale": "ko-KR"})
    yield context.new_page()
    context.close()


def test_the_door_scanner_speaks_korean_to_a_korean_phone(
    korean_phone: Page, register: Callable[[str], Any], sold: tuple[Any, list[str]], shot: Shot
) -> None:
    event, (first, second, _) = sold
    register("gate-ko")
    _staff("gate-ko")
    phone = korean_phone
    phone.goto("/accounts/login/")
    phone.get_by_label("사용자 이름").fill("gate-ko")
    phone.get_by_label("비밀번호").fill(PASSWORD)
    phone.get_by_role("button", name="로그인").click()
    phone.get_by_role("link", name="입장 확인").click()
    expect(phone).to_have_url(re.compile(r"/door/$"))
    expect(phone.locator("html")).to_have_attribute("lang", "ko")
    expect(phone.get_by_role("heading", name="입장 확인")).to_be_visible()
    expect(phone.get_by_role("button", name="카메라 켜기")).to_be_visible()
    phone.get_by_label("이 입구의 공연").select_option(str(event.id))
    verdict, detail = phone.locator("#scan-verdict"), phone.locator("#scan-detail")
    expect(verdict).to_have_text("대기 중")

    def typed(code: str) -> None:
        phone.get_by_label("티켓 코드").fill(code)
        phone.get_by_role("button", name="입장 처리").click()

    typed(first)
    expect(verdict).to_have_text("입장 완료")
    expect(detail).to_have_text(re.compile(r"^A구역 1열 \d+번$"))
    typed(first)
    expect(verdict).to_have_text("이미 입장함")
    expect(detail).to_have_text(re.compile(r"^A구역 1열 \d+번, .+에 gate-ko 님이 입장 처리$"))
    expect(phone.locator("#scan-log li")).to_have_count(2)
    shot(phone, "23-door-scanner-ko")
    Ticket.objects.filter(code=second).update(status=Ticket.Status.VOID)
    typed(second)
    expect(verdict).to_have_text("무효 티켓")
    expect(detail).to_have_text(re.compile(r": 주문이 취소되었거나 환불되었습니다\.$"))
    typed("https://example.com/not-a-ticket")
    expect(verdict).to_have_text("티켓 아님")
    expect(phone.locator("#scan-result")).to_have_class(re.compile(r"scan-bad"))
    expect(verdict).to_have_text("대기 중", timeout=10_000)  # ready for the next ticket
    expect(detail).to_have_text("다음 티켓을 스캔하세요.")


def test_the_scanner_is_for_door_staff_only(page: Page, register: Callable[[str], Any]) -> None:
    register("fan")
    log_in(page, "fan")
    expect(page.get_by_role("link", name="Door scanner")).to_have_count(0)
    assert page.goto("/door/").status == 403


def _qr_video(path: Path, text: str, frames: int = 8) -> Path:
    """A Y4M video (what Chromium's fake camera plays, in a loop) of a QR
    code with ``text``, drawn black on white in the middle of the frame."""
    width, height = 640, 480
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(text)
    code.make()
    matrix = code.get_matrix()
    module = int(min(width, height) * 0.8) // len(matrix)
    left, top = (width - module * len(matrix)) // 2, (height - module * len(matrix)) // 2
    luma = bytearray(b"\xeb" * (width * height))  # white (video range)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for line in range(top + y * module, top + (y + 1) * module):
                    start = line * width + left + x * module
                    luma[start : start + module] = b"\x10" * module
    chroma = b"\x80" * (width * height // 4)
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            video.write(b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path


@pytest.fixture
def camera_browser(browser_type: BrowserType, sold: tuple[Any, list[str]]) -> Iterator[Browser]:
    """A Chromium whose camera shows the QR code of the buyer's first ticket."""
    video = _qr_video(ARTIFACTS / "ticket-qr.y4m", sold[1][0])
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    browser = browser_type.launch(executable_path=CHROMIUM, args=args, headless=True)
    yield browser
    browser.close()
    video.unlink(missing_ok=True)


def test_the_scanner_reads_a_qr_code_from_the_camera_once(
    camera_browser: Browser, live_server_url: str, register: Callable[[str], Any], sold: tuple[Any, list[str]]
) -> None:
    _, (first, *_) = sold
    register("camgate")
    _staff("camgate")
    context = camera_browser.new_context(base_url=live_server_url, permissions=["camera"], **PHONE)
    page = context.new_page()
    scans: list[str] = []
    page.on("request", lambda r: scans.append(r.post_data or "") if r.url.endswith("/api/checkin/") else None)
    log_in(page, "camgate")
    page.goto("/door/")
    page.get_by_role("button", name="Start the camera").click()

    expect(page.locator("#scan-verdict")).to_have_text("Checked in", timeout=20_000)
    decoder = page.locator("body").get_attribute("data-decoder")
    assert decoder in ("jsqr", "barcode-detector")
    print(f"the camera's QR code was read by: {decoder}")
    page.wait_for_timeout(2000)  # the code stays in view: it is not sent again meanwhile
    assert len(scans) == 1 and first in scans[0]
    assert Ticket.objects.get(code=first).status == "checked_in"
    page.get_by_role("button", name="Stop the camera").click()
    context.close()
