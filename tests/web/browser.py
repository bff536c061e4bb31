"""Helpers shared by the browser tests."""

from __future__ import annotations

import time

from playwright.sync_api import APIRequestContext, Page, expect

PASSWORD = "pw-Secret-123"


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"{username}", exact=True)).to_be_visible()


def wait_admitted(api: APIRequestContext, event_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.get(f"/api/events/{event_id}/queue/").json()["state"] == "admitted":
            return
        time.sleep(0.3)
    raise AssertionError("not admitted in time")


def position(page: Page) -> int:
    return int(page.locator("#position").inner_text().replace(",", ""))
