"""The waiting line in a real Chromium against the live ASGI server (WebSocket
included), with the real Celery worker and beat admitting people, then the
whole booking to the tickets."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import APIRequestContext, BrowserContext, Page, expect

from reservations.services import event_create
from tests.web.browser import PASSWORD, log_in, position, wait_admitted

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shot = Callable[[Page, str], Path]


def test_sign_up_queue_pick_seats_see_a_rival_take_one_pay_and_get_tickets(
    page: Page, new_context: Callable[..., BrowserContext], register: Callable[[str], Any], shot: Shot
) -> None:
    event = event_create(
        name="Stadium Night",
        venue_name="Olympic Stadium",
        sections="A:4x12:VIP:220000,B:6x16:R:150000",
        batch=1,
        interval=2,
        cap=50,
        hold_seconds=300,
        admission_seconds=600,
    )
    ahead = [register("rival"), register("early1"), register("early2")]

    # Sign up.
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("newfan")
    page.get_by_label("Email").fill("newfan@example.com")
    page.get_by_label("Password", exact=True).fill("a-Long-pass-123")
    page.get_by_label("Password (again)").fill("a-Long-pass-123")
    shot(page, "01-signup")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("newfan", exact=True)).to_be_visible()
    shot(page, "02-event-list")

    page.get_by_role("link", name="Details and booking for Stadium Night").click()
    expect(page.get_by_role("heading", name="Stadium Night")).to_be_visible()
    shot(page, "03-event-page")

    # A few people get in line first.
    for client in ahead:
        assert client.post(f"/api/events/{event.id}/queue/").status in (200, 201)

    page.get_by_role("link", name="Book").click()
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/queue/$"))
    expect(page.locator("#position")).to_have_text(re.compile(r"^\d+$"))
    first = position(page)
    assert first >= 2, f"expected people ahead, saw position {first}"
    expect(page.locator("#conn-text")).to_have_text("Live")
    shot(page, "04-waiting-page")

    # Reloading, or a second tab, never moves the person back. The second
    # tab takes the line over (one socket per person); a reload takes it back.
    page.reload()
    expect(page.locator("#position")).to_have_text(re.compile(r"^\d+$"))
    assert position(page) <= first
    second_tab = page.context.new_page()
    second_tab.goto(f"/events/{event.id}/queue/")
    expect(second_tab.locator("#position")).to_have_text(re.compile(r"^\d+$"))
    assert position(second_tab) <= first
    expect(page.locator("#queue-message")).to_contain_text("open in another tab or window")
    second_tab.close()
    page.reload()
    expect(page.locator("#conn-text")).to_have_text("Live")

    # The position falls, then the page goes to the seat map by itself.
    page.wait_for_function(f"Number(document.getElementById('position').textContent) < {first}", timeout=30_000)
    shot(page, "04-waiting-page-moving")
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/$"), timeout=30_000)
    seat_buttons = page.locator("button.seat")
    expect(seat_buttons).to_have_count(4 * 12 + 6 * 16)
    expect(page.locator("#admission-left")).to_have_text(re.compile(r"^\d+:\d\d$"))

    # The rival (admitted first) takes a seat in another browser.
    rival_page = new_context().new_page()
    log_in(rival_page, "rival")
    rival_page.goto(f"/events/{event.id}/seats/")
    rival_seat = rival_page.locator("button.seat:not(.is-taken)").first
    taken_id = rival_seat.get_attribute("data-seat-id")
    rival_seat.click()
    rival_page.get_by_role("button", name="Hold 1 seat").click()
    expect(rival_page.locator("#hold-panel")).to_be_visible()

    taken = page.locator(f'button.seat[data-seat-id="{taken_id}"]')
    expect(taken).to_have_class(re.compile(r"\bis-taken\b"), timeout=10_000)
    expect(taken).to_have_attribute("aria-disabled", "true")
    expect(taken).to_have_attribute("aria-label", re.compile(r", taken$"))
    grey = "rgb(201, 204, 214)"  # --taken in site.css
    page.wait_for_function(
        "([id, grey]) => getComputedStyle(document.querySelector(`button.seat[data-seat-id='${id}']`))"
        ".backgroundColor === grey",
        arg=[taken_id, grey],
    )

    # Pick two seats in the R section.
    free = page.locator("button.seat.grade-1:not(.is-taken)")
    free.nth(0).click()
    free.nth(1).click()
    expect(page.locator("#selected-seats li")).to_have_count(2)
    expect(page.locator("#selected-total")).to_have_text("₩300,000")
    shot(page, "05-seat-map")
    page.get_by_role("button", name="Hold 2 seats").click()
    expect(page.locator("#hold-panel")).to_be_visible()
    expect(page.locator("#hold-left")).to_have_text(re.compile(r"^[45]:\d\d$"))
    shot(page, "06-seats-held")

    # Pay.
    page.get_by_role("link", name="Continue to payment").click()
    expect(page.locator("#hold-total")).to_have_text("₩300,000")
    expect(page.get_by_role("button", name="Pay ₩300,000")).to_be_visible()
    shot(page, "07-checkout")
    page.get_by_role("button", name="Pay ₩300,000").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    expect(page.get_by_role("heading", name="You're going!")).to_be_visible()
    tickets = page.locator("li.ticket")
    expect(tickets).to_have_count(2)
    expect(page.get_by_role("heading", name="Stadium Night")).to_be_visible()
    qr = tickets.first.locator("img.qr")
    expect(qr).to_have_attribute("alt", re.compile(r"^QR code of ticket [A-Za-z0-9_-]{16,}$"))
    page.wait_for_function("[...document.querySelectorAll('img.qr')].every(i => i.complete && i.naturalWidth > 0)")
    shot(page, "08-confirmation")

    page.get_by_role("link", name="My tickets").first.click()
    expect(page.locator("article.order")).to_have_count(1)
    expect(page.locator("li.ticket")).to_have_count(2)
    codes = page.locator("code.ticket-code").all_inner_texts()
    assert len(set(codes)) == 2
    shot(page, "09-my-tickets")


def test_sold_out_event_says_so_on_the_event_and_waiting_pages(
    page: Page, register: Callable[[str], APIRequestContext], shot: Shot
) -> None:
    event = event_create(name="Tiny Gig", venue_name="Attic", sections="A:1x2:R:30000", batch=5, interval=1)
    buyer = register("buyer")
    assert buyer.post(f"/api/events/{event.id}/queue/").status in (200, 201)
    wait_admitted(buyer, event.id)
    hold = buyer.post(f"/api/events/{event.id}/holds/", data={"quantity": 2, "grade": "R"})
    assert hold.status == 201, hold.text()
    paid = buyer.post(
        f"/api/holds/{hold.json()['id']}/checkout/",
        data={"payment_token": "tok_ok"},
        headers={"Idempotency-Key": "sold-out-test"},
    )
    assert paid.status == 201, paid.text()

    register("late")
    log_in(page, "late")
    page.goto(f"/events/{event.id}/")
    expect(page.get_by_text("Sold out. Every seat has been sold.")).to_be_visible()
    expect(page.get_by_role("link", name="Book")).to_have_count(0)
    shot(page, "12-sold-out-event-page")
    page.goto(f"/events/{event.id}/queue/")
    expect(page.locator("#queue-message")).to_contain_text("Sold out")
    shot(page, "12-sold-out-waiting-page")


def test_waiting_page_falls_back_to_polling_while_the_socket_is_down(
    page: Page, register: Callable[[str], APIRequestContext], shot: Shot
) -> None:
    event = event_create(
        name="Fallback Night", venue_name="Arena", sections="A:4x10:R:70000", batch=1, interval=2, cap=50
    )
    ahead = [register("fb1"), register("fb2")]
    register("fiona")
    log_in(page, "fiona")
    refused: list[str] = []

    def refuse(ws: Any) -> None:
        refused.append(ws.url)
        ws.close(code=1011, reason="socket down for this test")

    page.route_web_socket(re.compile(r"/ws/events/\d+/queue/$"), refuse)
    polls: list[str] = []
    queue_api = f"/api/events/{event.id}/queue/"
    page.on("request", lambda r: polls.append(r.url) if r.method == "GET" and r.url.endswith(queue_api) else None)
    for client in ahead:
        assert client.post(queue_api).status in (200, 201)

    page.goto(f"/events/{event.id}/queue/")
    expect(page.locator("#conn-text")).to_contain_text("Reconnecting")
    expect(page.locator("#position")).to_have_text(re.compile(r"^[23]$"))
    shot(page, "15-waiting-reconnecting")
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/$"), timeout=30_000)
    assert len(refused) >= 2, "the page should retry the socket"
    assert polls, "admission was learnt by polling GET .../queue/"


def test_scheduled_sale_counts_down_then_the_waiting_page_joins_by_itself(
    page: Page, register: Callable[[str], APIRequestContext], shot: Shot
) -> None:
    event = event_create(
        name="Midnight Drop", venue_name="Arena", sections="A:4x10:R:70000", opens_in=8, batch=5, interval=1
    )
    register("gus")
    log_in(page, "gus")
    page.goto(f"/events/{event.id}/")
    expect(page.get_by_text("Opens soon")).to_be_visible()
    expect(page.locator(".countdown-big")).to_have_text(re.compile(r"^0:0\d$"))
    shot(page, "16-sale-opens-soon")
    page.get_by_role("link", name="Wait for the sale").click()
    expect(page.locator("#queue-opens")).to_be_visible()
    expect(page.locator("#opens-countdown")).to_have_text(re.compile(r"^0:0\d$"))
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/$"), timeout=20_000)


def test_organizer_pausing_and_resuming_the_sale_shows_on_the_waiting_page(
    page: Page, new_context: Callable[..., BrowserContext], register: Callable[[str], APIRequestContext], shot: Shot
) -> None:
    event = event_create(
        name="Pause Night", venue_name="Arena", sections="A:4x10:R:70000", batch=1, interval=60, cap=50
    )
    assert register("pa1").post(f"/api/events/{event.id}/queue/").status in (200, 201)
    register("pia")
    log_in(page, "pia")
    page.goto(f"/events/{event.id}/queue/")
    expect(page.locator("#conn-text")).to_have_text("Live")
    expect(page.locator("#position")).to_have_text(re.compile(r"^[12]$"))

    get_user_model().objects.create_superuser(username="organizer", password=PASSWORD)
    admin = new_context().new_page()
    admin.goto("/admin/login/")
    admin.get_by_label("Username").fill("organizer")
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()

    def run_action(action: str) -> None:
        admin.goto("/admin/reservations/event/")
        admin.locator(f'input[name="_selected_action"][value="{event.id}"]').check()
        admin.locator('select[name="action"]').select_option(action)
        admin.get_by_role("button", name="Go").click()

    run_action("queue_pause")
    expect(page.locator("#queue-message")).to_contain_text("paused the sale", timeout=10_000)
    expect(page.locator("#queue-message")).to_contain_text("You keep your place")
    expect(page.locator("#eta")).to_have_text("paused")
    shot(page, "17-waiting-paused")
    run_action("queue_resume")
    expect(page.locator("#queue-message")).to_contain_text("The sale has resumed", timeout=10_000)


def test_the_demo_event_books_end_to_end_from_a_fresh_database(
    page: Page, register: Callable[[str], APIRequestContext], shot: Shot
) -> None:
    call_command("demo", stdout=io.StringIO())
    register("demofan")
    log_in(page, "demofan")
    page.goto("/")
    page.get_by_role("link", name="Details and booking for Demo Stadium Night").click()
    page.get_by_role("link", name="Book").click()
    expect(page).to_have_url(re.compile(r"/events/\d+/seats/$"), timeout=20_000)
    expect(page.locator("button.seat")).to_have_count(10 * 20 + 15 * 25 + 20 * 30)
    shot(page, "18-demo-seat-map")
    page.get_by_label("Grade", exact=True).select_option("VIP")
    page.get_by_label("Seats", exact=True).select_option("3")
    page.get_by_role("button", name="Find best seats").click()
    expect(page.locator("#hold-seats li")).to_have_count(3)
    page.get_by_role("link", name="Continue to payment").click()
    page.get_by_role("button", name="Pay ₩660,000").click()
    expect(page.locator("li.ticket")).to_have_count(3)


def test_when_the_admission_lapses_the_person_chooses_to_join_again(
    page: Page, register: Callable[[str], APIRequestContext], shot: Shot
) -> None:
    event = event_create(
        name="Quick Pick", venue_name="Arena", sections="A:4x10:R:70000", batch=5, interval=1, admission_seconds=4
    )
    register("quinn")
    log_in(page, "quinn")
    page.goto(f"/events/{event.id}/queue/")
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/$"), timeout=20_000)
    expect(page.locator("#admission-left")).to_have_text(re.compile(r"^0:0\d$"))
    expect(page.locator("#seats-message")).to_contain_text("Your turn to choose seats has ended", timeout=10_000)
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/queue/$"), timeout=10_000)
    expect(page.locator("#queue-message")).to_contain_text("join the line again at the back")
    shot(page, "19-turn-ended")
    page.get_by_role("button", name="Join the line again").click()
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/seats/$"), timeout=20_000)


def test_a_second_tab_of_the_same_person_takes_over_the_waiting_line(
    page: Page, register: Callable[[str], APIRequestContext]
) -> None:
    event = event_create(name="Two Tabs", venue_name="Arena", sections="A:4x10:R:70000", batch=1, interval=60, cap=50)
    assert register("tab-ahead").post(f"/api/events/{event.id}/queue/").status in (200, 201)
    register("tabby")
    log_in(page, "tabby")
    page.goto(f"/events/{event.id}/queue/")
    expect(page.locator("#conn-text")).to_have_text("Live")

    second = page.context.new_page()  # the same person, the same session
    second.goto(f"/events/{event.id}/queue/")
    expect(second.locator("#conn-text")).to_have_text("Live")
    expect(page.locator("#queue-message")).to_contain_text("open in another tab or window")
    expect(page.locator("#conn-text")).to_have_text("Open in another tab")
    expect(second.locator("#position")).to_have_text(re.compile(r"^[12]$"))  # the place is kept, in the new tab
    page.wait_for_timeout(1500)
    expect(second.locator("#conn-text")).to_have_text("Live")  # the old tab did not reconnect and take it back


def test_the_waiting_page_solves_the_join_challenge_in_a_worker_and_joins(
    page: Page, register: Callable[[str], APIRequestContext]
) -> None:
    event = event_create(
        name="Guarded Night", venue_name="Arena", sections="A:4x10:R:70000", batch=1, interval=60, challenge_bits=12
    )
    api = register("solver")
    refused = api.post(f"/api/events/{event.id}/queue/")
    assert (refused.status, refused.json()["error"]) == (403, "challenge_required")
    log_in(page, "solver")
    page.goto(f"/events/{event.id}/queue/")
    expect(page.locator("#position")).to_have_text(re.compile(r"^\d+$"))  # solved in the page, then joined
    expect(page.locator("#challenge-box")).to_be_hidden()
    assert api.get(f"/api/events/{event.id}/queue/").json()["state"] in ("waiting", "admitted")
