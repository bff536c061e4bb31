"""The interactive API documentation in a real Chromium: every operation
shown, and not one request to another host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shot = Callable[[Page, str], Path]


def test_the_docs_render_every_operation_from_this_host_only(page: Page, live_server_url: str, shot: Shot) -> None:
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    operations = sum(len(item) for item in page.request.get("/api/schema/?format=json").json()["paths"].values())

    page.goto("/api/docs/")

    expect(page.locator(".opblock")).to_have_count(operations)
    expect(page.get_by_text("Join the waiting queue")).to_be_visible()
    page.get_by_text("Pay for a hold").click()
    expect(page.get_by_text("payment_declined").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    shot(page, "api-docs")

    origin = urlsplit(live_server_url)
    hosts = {urlsplit(url).netloc for url in requests if urlsplit(url).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {origin.netloc}, requests
    assert any(url.endswith("/api/schema/") for url in requests), requests
