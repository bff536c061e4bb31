"""Browser-test harness: the real product running as separate processes.

A package-scoped fixture starts ``uvicorn ticketing.asgi:application`` (HTTP
and WebSocket), a Celery worker and Celery beat (fast admission and expiry
ticks) against pytest-django's test database and this run's Redis db, and
stops them when the package's tests are done. Tests that use it must be
``transaction=True`` so the server processes see their data.

Playwright (through pytest-playwright's ``new_context``/``page`` fixtures)
drives Debian's Chromium at /usr/bin/chromium. Playwright's sync API runs an
event loop in the main thread, which makes Django refuse ORM calls from the
test ("SynchronousOnlyOperation"); the ``playwright`` fixture is overridden
at package scope so that loop, and the ``DJANGO_ALLOW_ASYNC_UNSAFE`` switch
that lets tests prepare data meanwhile, live only while these tests run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Browser, BrowserType, Page, Playwright, expect, sync_playwright

from tests.live import ARTIFACTS, LiveStack, base_env, redis_flush_keeping_broker
from tests.web.browser import PASSWORD as BROWSER_PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# As root on a closed network: no sandbox, and no background traffic whose
# refused connections would otherwise slow Chromium down.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Like the suite's flush, but keeps the live Celery broker's keys."""
    redis_flush_keeping_broker()
    yield
    redis_flush_keeping_broker()


@pytest.fixture(scope="package")
def live_server_url(django_db_setup: Any) -> Iterator[str]:
    """Base URL of uvicorn + Celery worker + beat, all on the test database."""
    env = base_env(
        ADMISSION_TICK_SECONDS="0.5",
        HOLD_EXPIRY_TICK_SECONDS="1",
        PAYMENT_TIMEOUT_SECONDS="1",
        RATE_LIMIT_JOIN="1000/m",
        RATE_LIMIT_HOLD="1000/m",
    )
    stack = LiveStack(env, name="live-server")
    try:
        stack.start("worker", "beat", "web")
        yield stack.url
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    pw = sync_playwright().start()
    # Live processes on a busy 2-core CI machine: give every expectation some slack.
    expect.set_options(timeout=10_000)
    try:
        yield pw
    finally:
        pw.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright) -> BrowserType:
    return playwright.chromium


@pytest.fixture(scope="package")
def browser(browser_type: BrowserType) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() or not shutil.which(CHROMIUM):
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    browser = browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args(live_server_url: str) -> dict[str, Any]:
    """A time zone far from UTC shows that times are the viewer's own."""
    return {
        "base_url": live_server_url,
        "locale": "en-US",
        "timezone_id": "Asia/Seoul",
    }


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Saves a full-page screenshot as test-artifacts/screenshots/<name>.png."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def register(playwright: Playwright, live_server_url: str) -> Iterator[Callable[[str], APIRequestContext]]:
    """Registers a person through the API (so the server hashes the password
    its own way) and returns an API client logged in with their token."""
    clients: list[APIRequestContext] = []

    def make(username: str) -> APIRequestContext:
        anonymous = playwright.request.new_context(base_url=live_server_url)
        response = anonymous.post("/api/auth/register/", data={"username": username, "password": BROWSER_PASSWORD})
        assert response.status == 201, response.text()
        token = response.json()["token"]
        anonymous.dispose()
        client = playwright.request.new_context(
            base_url=live_server_url, extra_http_headers={"Authorization": f"Token {token}"}
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.dispose()
