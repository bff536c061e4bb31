"""``core.ws_gate``: origin check, route match and session-or-token auth
in one step, through Channels' ``WebsocketCommunicator`` (real PostgreSQL
and Redis: sessions in the database, the token cache in Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.test import Client
from django.urls import path

from accounts.authentication import CachedTokenAuthentication
from accounts.services import token_issue
from accounts.ws_auth import handshake_user
from core.ws_gate import WebSocketGate

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


class Probe:
    """An inner application that records what the gate handed it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen.append(
            {
                "user_id": scope["user"].id,
                "authenticated": scope["user"].is_authenticated,
                "kwargs": scope["url_route"]["kwargs"],
                "caches_in_context": caches.all(initialized_only=True),
            }
        )
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def gate(probe: Probe) -> WebSocketGate:
    return WebSocketGate([path("ws/probe/<int:number>/", probe)], user_lookup=handshake_user)


@database_sync_to_async
def _user_with_token(name: str) -> tuple[int, str]:
    user = get_user_model().objects.create_user(username=name, password="pw-Secret-123")
    key = token_issue(user=user)
    CachedTokenAuthentication().authenticate_credentials(key.encode())  # as at login: the token cache is warm
    return user.id, key


@database_sync_to_async
def _session_cookie(user_id: int) -> str:
    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client.cookies["sessionid"].value


async def _connect(gate: WebSocketGate, route: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, Any]:
    socket = WebsocketCommunicator(gate, route, headers=headers)
    connected, code = await socket.connect(timeout=TIMEOUT)
    if connected:
        await socket.disconnect()
    return connected, code


async def test_token_user_and_route_kwargs_reach_the_app(gate, probe):
    user_id, token = await _user_with_token("tok")
    headers = [(b"authorization", f"Token {token}".encode())]
    assert (await _connect(gate, "/ws/probe/7/", headers))[0]
    assert (await _connect(gate, "/ws/probe/8/", headers))[0]
    assert [(s["user_id"], s["kwargs"]) for s in probe.seen] == [(user_id, {"number": 7}), (user_id, {"number": 8})]


async def test_session_cookie_is_used_only_without_a_token_header_and_leaves_no_cache_behind(gate, probe):
    browser_id, _ = await _user_with_token("browser")
    other_id, other_token = await _user_with_token("other")
    cookie = (b"cookie", f"sessionid={await _session_cookie(browser_id)}".encode())
    origin = (b"origin", b"http://localhost:8000")
    assert (await _connect(gate, "/ws/probe/1/", [cookie, origin]))[0]
    assert (await _connect(gate, "/ws/probe/1/", [cookie, (b"authorization", f"Token {other_token}".encode())]))[0]
    assert [s["user_id"] for s in probe.seen] == [browser_id, other_id]
    # The session was read through Django's cache; the socket's context must not keep one.
    assert probe.seen[0]["caches_in_context"] == []


async def test_bad_credentials_give_an_anonymous_user(gate, probe):
    for headers in (
        [],
        [(b"cookie", b"sessionid=not-a-session")],
        [(b"authorization", b"Token not-a-token")],
        [(b"authorization", b"Bearer something")],
        # Django decodes the cookie's octal escapes to NULs, which PostgreSQL cannot compare.
        [(b"cookie", b'sessionid="' + b"\\000" * 32 + b'"')],
        [(b"authorization", b"Token abc\x00def")],
    ):
        assert (await _connect(gate, "/ws/probe/1/", headers))[0]
    assert [s["authenticated"] for s in probe.seen] == [False] * 6


async def test_unknown_path_and_foreign_or_opaque_origin_are_refused(gate, probe):
    _, token = await _user_with_token("tok")
    auth = (b"authorization", f"Token {token}".encode())
    assert not (await _connect(gate, "/ws/nowhere/", [auth]))[0]
    assert not (await _connect(gate, "/ws/probe/x/", [auth]))[0]
    assert not (await _connect(gate, "/ws/probe/1/", [auth, (b"origin", b"https://evil.example")]))[0]
    assert not (await _connect(gate, "/ws/probe/1/", [auth, (b"origin", b"null")]))[0]
    assert probe.seen == []


async def test_http_is_not_served(gate):
    with pytest.raises(ValueError, match="http"):
        await gate({"type": "http", "path": "/"}, None, None)
