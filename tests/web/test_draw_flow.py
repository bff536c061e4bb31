"""The pre-queue in a real Chromium against the live stack: the page solves
the join challenge in its worker and enters the pre-queue, shows the entry,
the entrants and the countdown to the draw; at the opening the beat makes
the draw and the socket brings the drawn place (the one the public record
gives), then the admission takes the person to the seat map."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Browser, Dialog, Page, expect

from queue_app.challenge import zero_bits_lead
from reservations.services import event_create
from tests.web.browser import PASSWORD, log_in, position

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: Long enough for the page to load, solve its challenge and enter on a loaded machine.
OPENS_IN_SECONDS = 25


def _enter_with_proof(api: APIRequestContext, event_id: int) -> dict:
    """A join that answers the challenge, as a script would (12 bits: a few thousand hashes)."""
    issued = api.post(f"/api/events/{event_id}/queue/challenge/").json()
    nonce = next(
        str(n)
        for n in itertools.count()
        if zero_bits_lead(hashlib.sha256((issued["challenge"] + str(n)).encode()).digest(), issued["difficulty"])
    )
    joined = api.post(f"/api/events/{event_id}/queue/", data={"challenge": issued["challenge"], "nonce": nonce})
    assert joined.status == 201, joined.text()
    return joined.json()


def _readme_verifier() -> str:
    """The ten-line check of a draw that the README gives everyone."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return readme.split("**Fair opening.**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_prequeue_entry_then_the_drawn_place_then_the_seat_map(
    page: Page,
    register: Callable[[str], APIRequestContext],
    shot: Callable[[Page, str], Path],
    live_server_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = event_create(
        name="Drawn Night",
        venue_name="Arena",
        sections="A:4x10:R:70000",
        opens_in=OPENS_IN_SECONDS,
        prequeue_minutes=30,
        challenge_bits=12,
        batch=1,
        interval=1,
    )
    others = [register(f"entrant{i}") for i in range(2)]
    me = register("drawfan")
    entries = [_enter_with_proof(api, event.id)["entry"] for api in others]
    commitment = me.get(f"/api/events/{event.id}/draw/").json()["commitment"]

    log_in(page, "drawfan")
    page.goto(f"/events/{event.id}/")
    page.get_by_role("link", name="Join the pre-queue").click()
    pre = page.locator("#queue-pre")
    expect(pre).to_be_visible()  # the challenge was solved in the page, then the entry made
    expect(page.locator("#challenge-box")).to_be_hidden()
    expect(page.locator("#queue-title")).to_have_text("You are in the pre-queue for Drawn Night")
    mine = page.locator("#pre-entry").inner_text()
    assert mine == me.get(f"/api/events/{event.id}/queue/").json()["entry"]
    expect(page.locator("#pre-total")).to_have_text("3")
    expect(page.locator("#pre-countdown")).to_have_text(re.compile(r"^0:\d\d$"))
    expect(page.locator("#pre-commitment")).to_have_text(commitment)
    expect(page.locator("#conn-text")).to_have_text("Live")
    shot(page, "19-pre-queue")

    # The opening: the beat makes the draw, the socket brings the drawn place.
    expect(page.locator("#position")).to_have_text(re.compile(r"^\d+$"), timeout=OPENS_IN_SECONDS * 1000 + 15_000)
    expect(pre).to_be_hidden()
    draw = me.get(f"/api/events/{event.id}/draw/")
    for _ in range(50):
        if draw.json()["state"] == "drawn":
            break
        page.wait_for_timeout(200)
        draw = me.get(f"/api/events/{event.id}/draw/")
    drawn = me.get(f"/api/events/{event.id}/draw/entries/").json()
    assert draw.json()["commitment"] == commitment
    assert sorted(drawn) == sorted([*entries, mine])
    assert position(page) <= drawn.index(mine) + 1  # the drawn place, or nearer once others got in
    verifier = _readme_verifier().replace(
        "https://tickets.example/api/events/7/draw/", f"{live_server_url}/api/events/{event.id}/draw/"
    )
    exec(verifier, {})  # noqa: S102 - the README's own snippet, run against the live server
    assert "draw checked: 3 entries" in capsys.readouterr().out
    shot(page, "20-drawn-place")

    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/$"), timeout=30_000)
    expect(page.locator("button.seat")).to_have_count(40)


@pytest.fixture
def korean_page(browser: Browser, browser_context_args: dict[str, Any]) -> Iterator[Page]:
    """A Chromium whose language is Korean (ko-KR: navigator.language and Accept-Language)."""
    context = browser.new_context(**{**browser_context_args, "locale": "ko-KR"})
    yield context.new_page()
    context.close()


def test_the_prequeue_waiting_page_is_korean_for_a_korean_browser(
    korean_page: Page, register: Callable[[str], APIRequestContext], shot: Callable[[Page, str], Path]
) -> None:
    """The pre-queue panel a Korean browser gets: title, countdown to the
    draw, entrants, entry, the commitment line, the leave button and its
    question, all in Korean (the template's and the script's words)."""
    page = korean_page
    event = event_create(
        name="Drawn Night",
        venue_name="Arena",
        sections="A:2x5:R:70000",
        opens_in=600,
        prequeue_minutes=30,
        challenge_bits=0,
    )
    register("drawfan_ko")
    page.goto("/accounts/login/")
    page.get_by_label("사용자 이름").fill("drawfan_ko")
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_text("drawfan_ko", exact=True)).to_be_visible()
    page.goto(f"/events/{event.id}/")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    page.get_by_role("link", name="사전 대기열 참여하기").click()
    pre = page.locator("#queue-pre")
    expect(pre).to_be_visible()
    expect(page.locator("#queue-title")).to_have_text("Drawn Night 사전 대기열에 있습니다")
    expect(pre.locator(".cta-line")).to_have_text("추첨까지")
    expect(page.locator("#pre-countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(page.locator("#pre-opens-at")).to_have_text(re.compile(r"^\d{4}년 \d+월 \d+일"))
    expect(pre).to_contain_text("추첨으로 사전 대기열의 모든 사람에게 무작위 순서를 정하고")
    expect(page.locator("#pre-total-label")).to_have_text("사전 대기 인원")
    expect(page.locator("#pre-total")).to_have_text("1")
    expect(page.locator("#pre-entry-label")).to_have_text("내 응모 번호")
    expect(page.locator("#pre-entry")).to_have_text(re.compile(r"^[0-9a-f]{16}$"))
    expect(page.locator("#pre-commitment-line")).to_contain_text("추첨은 누구나 검증할 수 있습니다.")
    expect(page.locator("#pre-commitment")).to_have_text(event.draw_commitment)
    expect(page.locator("#conn-text")).to_have_text("실시간")
    expect(page.locator("#leave-button")).to_have_text("사전 대기열 나가기")
    shot(page, "19-pre-queue-ko")

    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.locator("#leave-button").click()
    expect(pre).to_be_visible()  # dismissed: still in the pre-queue
    assert asked == [
        "사전 대기열에서 나갈까요? 내 응모는 추첨에서 빠집니다. 예매가 시작되기 전까지는 다시 응모할 수 있습니다."
    ]
