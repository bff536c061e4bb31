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
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from playwright.sync_api import APIRequestContext, Browser, BrowserType, Page, Playwright, expect, sync_playwright

from core.redis import get_redis
from tests.web.browser import PASSWORD as BROWSER_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
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
# Celery's broker lives in the same Redis db as the app; these keys are its
# queues and bindings, which a flush between tests would break.
BROKER_KEY_PREFIXES = ("_kombu.", "unacked", "celery")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    """The test database as a URL; a Unix-socket directory (the embedded server) goes percent-encoded."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"], safe="") + (":" + quote(db["PASSWORD"], safe="") if db.get("PASSWORD") else "")
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_healthy(url: str, processes: list[subprocess.Popen], logs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for proc in processes:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited early; see {logs}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # noqa: S310 (loopback URL)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the live server did not answer in time; see {logs}")


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Like the suite's flush, but keeps the live Celery broker's keys."""

    def clean() -> None:
        redis = get_redis()
        doomed = [key for key in redis.scan_iter(count=1000) if not key.decode().startswith(BROKER_KEY_PREFIXES)]
        if doomed:
            redis.delete(*doomed)

    clean()
    yield
    clean()


@pytest.fixture(scope="package")
def live_server_url(django_db_setup: Any) -> Iterator[str]:
    """Base URL of uvicorn + Celery worker + beat, all on the test database."""
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    logs = ARTIFACTS / "live-server.log"
    env = {
        **os.environ,
        # The suite's settings: same database, Redis db and fast password hasher as the test process.
        "DJANGO_SETTINGS_MODULE": "ticketing.settings_test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ADMISSION_TICK_SECONDS": "0.5",
        "HOLD_EXPIRY_TICK_SECONDS": "1",
        "PAYMENT_TIMEOUT_SECONDS": "1",
        "RATE_LIMIT_JOIN": "1000/m",
        "RATE_LIMIT_HOLD": "1000/m",
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "WARNING",
    }
    schedule = ARTIFACTS / "celerybeat-schedule"
    commands = [
        [sys.executable, "-m", "uvicorn", "ticketing.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        [sys.executable, "-m", "celery", "-A", "ticketing", "worker", "-c", "2", "-n", f"browser-tests-{port}@%h"],
        [sys.executable, "-m", "celery", "-A", "ticketing", "beat", "-s", str(schedule), "--pidfile="],
    ]
    with logs.open("w") as log:
        processes = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT) for cmd in commands]
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, processes, logs)
        yield url
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for leftover in ARTIFACTS.glob("celerybeat-schedule*"):
            leftover.unlink()


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
