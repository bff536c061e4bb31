"""A 50,000-seat map in a real Chromium: the overview of sections first, one
section drawn on demand, and a seat held in one browser taken in another
within 2 s (the seat page's socket says a new version is out)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from reservations.services import event_create
from tests.web.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STADIUM = ",".join(f"{name}:100x100:{grade}:{price}" for name, grade, price in (
    ("A", "R", 150000), ("B", "R", 150000), ("C", "S", 100000), ("D", "S", 100000), ("E", "A", 60000),
))  # fmt: skip


#: Sets ``window.seenAt`` (ms) when the seat's button turns taken.
SEEN_AT_WATCH = """seatId => {
  const button = document.querySelector(`button.seat[data-seat-id="${seatId}"]`);
  new MutationObserver((_, observer) => {
    if (button.classList.contains("is-taken")) { window.seenAt = Date.now(); observer.disconnect(); }
  }).observe(button, { attributes: true, attributeFilter: ["class"] });
}"""


def test_a_stadium_opens_on_its_sections_and_a_hold_reaches_another_browser(
    page: Page, new_context: Callable[..., BrowserContext], register: Callable[[str], Any], shot: Callable[..., Path]
) -> None:
    event = event_create(name="Stadium Night", venue_name="Stadium", sections=STADIUM, queue_enabled=False)
    register("sam")
    register("tess")
    other = new_context().new_page()
    log_in(page, "sam")
    log_in(other, "tess")
    other.goto(f"/events/{event.id}/seats/")
    other.get_by_role("button", name=re.compile("^Section C,")).click()  # watching the section already
    expect(other.locator("button.seat")).to_have_count(10_000)

    page.goto(f"/events/{event.id}/seats/")
    expect(page.locator(".section-button")).to_have_count(5)
    # From the start of the navigation to the page's own mark (User Timing),
    # not to Playwright's next poll.
    overview_s = page.evaluate("performance.getEntriesByName('seatmap-drawn')[0].startTime") / 1000
    assert overview_s < 1.0, f"the overview took {overview_s:.2f} s"
    assert page.locator("button.seat").count() == 0  # no seat drawn before a section is chosen
    expect(page.get_by_role("button", name=re.compile(r"Section C, 10000 of 10000 seats free"))).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    shot(page, "16-stadium-overview")

    page.get_by_role("button", name=re.compile("^Section C,")).click()
    expect(page.locator("button.seat")).to_have_count(10_000)  # one section, not the venue
    expect(page.locator("#all-sections")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # it scrolls inside
    target = page.get_by_role("button", name=re.compile(r"^Section C, row 1, seat 5,"))
    seat_id = target.get_attribute("data-seat-id")
    target.click()
    expect(page.get_by_role("button", name="Hold 1 seat")).to_be_enabled()
    # The other page notes the moment its button turns taken: Playwright's own
    # polling (100, 250, 500, 1000 ms apart) would round the delay up.
    other.evaluate(SEEN_AT_WATCH, seat_id)
    pressed_at = page.evaluate("Date.now()")  # from the press: the hold's own round trip counts too
    page.locator("#hold-button").click()
    expect(page.locator("#hold-seats li")).to_have_count(1)

    other.wait_for_function("window.seenAt !== undefined", timeout=5_000)
    delay = (other.evaluate("window.seenAt") - pressed_at) / 1000
    assert delay < 2.0, f"the other browser saw the hold after {delay:.2f} s"
    expect(other.get_by_role("button", name=re.compile(r"^Section C, row 1, seat 5, .*taken"))).to_be_visible()
    other.locator("#all-sections").click()
    expect(other.get_by_role("button", name=re.compile(r"Section C, 9999 of 10000 seats free"))).to_be_visible()
    shot(page, "17-stadium-section")
