"""Seat map, holds and checkout in a real Chromium against the live server,
with the real Celery beat expiring holds (events without a queue)."""

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

Shot = Callable[[Page, str], Path]


def test_declined_or_failed_payment_keeps_the_hold_and_a_good_card_pays(
    page: Page, register: Callable[[str], Any], shot: Shot
) -> None:
    event = event_create(
        name="Club Night", venue_name="Blue Hall", sections="A:3x10:R:80000,B:2x10:S:50000", queue_enabled=False
    )
    register("dana")
    log_in(page, "dana")
    page.goto(f"/events/{event.id}/")
    # Times show in the viewer's zone (the browser runs in Asia/Seoul), not the server's UTC.
    expect(page.locator("time").first).to_contain_text("GMT+9")
    page.get_by_role("link", name="Book").click()
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/$"))
    expect(page.locator("#admission-box")).to_have_count(0)  # no queue, no admission clock

    # Best available: two adjacent R seats.
    page.get_by_label("Grade", exact=True).select_option("R")
    page.get_by_label("Seats", exact=True).select_option("2")
    page.get_by_role("button", name="Find best seats").click()
    expect(page.locator("#hold-seats li")).to_have_count(2)
    held = page.locator("#hold-seats li").all_inner_texts()
    assert all("R" in line for line in held)
    page.get_by_role("link", name="Continue to payment").click()

    page.get_by_label(re.compile("0002")).check()
    page.get_by_role("button", name="Pay ₩160,000").click()
    message = page.locator("#checkout-message")
    expect(message).to_contain_text("Your card was declined")
    expect(message).to_contain_text("still held")
    shot(page, "10-payment-declined")
    hold_id = page.url.rstrip("/").split("/")[-2]
    assert page.request.get(f"/api/holds/{hold_id}/").json()["status"] == "active"
    expect(page.locator("#hold-left")).to_have_text(re.compile(r"^\d+:\d\d$"))

    page.get_by_label(re.compile("0119")).check()
    page.get_by_role("button", name="Pay ₩160,000").click()
    expect(message).to_contain_text("The payment service did not answer", timeout=15_000)
    expect(message).to_contain_text("not been charged")
    assert page.request.get(f"/api/holds/{hold_id}/").json()["status"] == "active"

    page.get_by_label(re.compile("4242")).check()
    page.get_by_role("button", name="Pay ₩160,000").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    expect(page.locator("li.ticket")).to_have_count(2)


def test_expired_hold_sends_the_person_back_to_the_seat_map(
    page: Page, register: Callable[[str], Any], shot: Shot
) -> None:
    event = event_create(
        name="Matinee", venue_name="Small Hall", sections="A:2x8:R:40000", queue_enabled=False, hold_seconds=4
    )
    register("erin")
    log_in(page, "erin")
    page.goto(f"/events/{event.id}/seats/")
    # Keyboard only: one tab stop for the map, arrows move, Enter picks.
    page.locator("button.seat").first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    seat = page.locator("button.seat:focus")
    expect(seat).to_have_attribute("aria-label", re.compile(r"^Section A, row 2, seat 2,"))
    assert page.locator('button.seat[tabindex="0"]').count() == 1
    seat_id = seat.get_attribute("data-seat-id")
    page.keyboard.press("Enter")
    expect(seat).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Hold 1 seat").click()
    page.get_by_role("link", name="Continue to payment").click()
    expect(page).to_have_url(re.compile(r"/holds/\d+/checkout/$"))
    expect(page.locator("#checkout-message")).to_contain_text("Your hold expired", timeout=15_000)
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/\?hold_expired=1$"), timeout=15_000)
    expect(page.locator("#seats-message")).to_contain_text("Your hold expired")
    # The seat is on sale again.
    expect(page.locator(f'button.seat[data-seat-id="{seat_id}"]')).not_to_have_class(re.compile(r"is-taken"))
    expect(page.locator(f'button.seat[data-seat-id="{seat_id}"]')).to_have_attribute("aria-disabled", "false")
    shot(page, "11-hold-expired")


def test_phone_layout_fits_the_screen(
    new_context: Callable[..., BrowserContext], register: Callable[[str], Any], shot: Shot
) -> None:
    event = event_create(
        name="Phone Night", venue_name="Arena", sections="A:6x24:R:99000,B:4x12:S:59000", queue_enabled=False
    )
    register("phil")
    phone = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    log_in(phone, "phil")
    for path, name in ((f"/events/{event.id}/", "13-phone-event"), (f"/events/{event.id}/seats/", "14-phone-seats")):
        phone.goto(path)
        phone.wait_for_load_state("networkidle")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        shot(phone, name)
    # The wide seat map scrolls inside its own box instead of widening the page.
    phone.locator("button.seat").nth(30).tap()
    expect(phone.locator("#selected-seats li")).to_have_count(1)
