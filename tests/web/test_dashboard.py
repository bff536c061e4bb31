"""The organizer's live dashboard in a real Chromium against the live product
(web, Celery worker and beat admitting the queue): its figures move while
shoppers buy, and its buttons pause, resume and close the sale."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, Request, expect

from reservations.models import Event
from reservations.services import event_create
from tests.web.browser import PASSWORD, wait_admitted

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shot = Callable[[Page, str], Path]


def _buy(api: Any, event_id: int, card: str, key: str) -> int:
    """Join, wait for admission, hold one R seat and pay: the status of the checkout."""
    assert api.post(f"/api/events/{event_id}/queue/").status in (200, 201)
    wait_admitted(api, event_id)
    hold = api.post(f"/api/events/{event_id}/holds/", data={"quantity": 1, "grade": "R"})
    assert hold.status == 201, hold.text()
    paid = api.post(
        f"/api/holds/{hold.json()['id']}/checkout/", data={"payment_token": card}, headers={"Idempotency-Key": key}
    )
    return paid.status


def test_the_dashboard_follows_a_purchase_and_steers_the_sale(
    page: Page, register: Callable[[str], Any], live_server_url: str, shot: Shot
) -> None:
    event = event_create(
        name="Arena Night", venue_name="Arena", sections="A:2x10:R:150000,B:2x10:S:90000", batch=2, interval=1, cap=2
    )
    get_user_model().objects.create_superuser(username="organizer", password=PASSWORD)
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    page.goto(f"/admin/reservations/event/{event.id}/dashboard/")
    page.get_by_label("Username").fill("organizer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    sold = page.locator('[data-figure="seats.sold"]')
    revenue = page.locator('[data-figure="sales.revenue"]')
    expect(page.locator("#dash-updated")).to_contain_text("Live")
    expect(sold).to_have_text("0")
    expect(page.locator('[data-figure="seats.available"]')).to_have_text("40")

    buyer = register("buyer")
    assert _buy(buyer, event.id, "tok_ok", "dash-1") == 201

    expect(sold).to_have_text("1")
    expect(revenue).to_contain_text("150,000")
    expect(page.locator('[data-figure="sales.checkouts_per_minute"]')).to_have_text("1")
    expect(page.locator('[data-figure="seats.available"]')).to_have_text("39")
    expect(page.locator("#bars-checkouts rect[data-value='1']")).to_have_count(1)
    expect(page.locator("#dash-rounds tr").first).not_to_contain_text("No round")

    unlucky = register("unlucky")
    assert _buy(unlucky, event.id, "tok_declined", "dash-2") == 402
    expect(page.locator('[data-figure="sales.payment_failures"]')).to_have_text("1")
    expect(page.locator('[data-figure="seats.held"]')).to_have_text("1")
    # At most two admitted at once: the declined shopper (still holding) and one fan; the others wait.
    for name in ("fan1", "fan2", "fan3", "fan4", "fan5"):
        assert register(name).post(f"/api/events/{event.id}/queue/").status in (200, 201)
    expect(page.locator('[data-figure="queue.admitted"]')).to_have_text("2")
    expect(page.locator('[data-figure="queue.waiting"]')).to_have_text("4")
    shot(page, "25-organizer-dashboard")

    page.get_by_role("button", name="Pause sale").click()
    expect(page.locator("#dash-status")).to_have_text("Paused")
    expect(page.locator("#dash-message")).to_have_text("Sale paused.")
    assert Event.objects.get(pk=event.id).status == "paused"
    expect(page.get_by_role("button", name="Pause sale")).to_be_disabled()

    page.get_by_role("button", name="Resume sale").click()
    expect(page.locator("#dash-status")).to_have_text("On sale")
    assert Event.objects.get(pk=event.id).status == "on_sale"

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Close sale").click()
    expect(page.locator("#dash-status")).to_have_text("Closed")
    assert Event.objects.get(pk=event.id).status == "closed"
    expect(page.get_by_role("button", name="Close sale")).to_be_disabled()

    origin = urlsplit(live_server_url).netloc
    assert {urlsplit(url).netloc for url in requests if url.startswith("http")} == {origin}, requests
