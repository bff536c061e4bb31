"""Django behind ``core.asgi_handler``: the middleware stack and the view
run in one thread per request, threads are reused between requests, and a
thread still busy when its request was abandoned is not handed out again."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from channels.testing import HttpCommunicator

from core.asgi_handler import PooledThreadASGIHandler
from tests.ticketing_asgi import thread_urls

URLS = "tests.ticketing_asgi.thread_urls"


@pytest.fixture
def handler(settings) -> PooledThreadASGIHandler:
    settings.ROOT_URLCONF = URLS
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{URLS}.ThreadNoteMiddleware"]
    return PooledThreadASGIHandler()


async def _get(handler: PooledThreadASGIHandler, path: str) -> dict:
    communicator = HttpCommunicator(handler, "GET", path, headers=[(b"host", b"testserver")])
    response = await communicator.get_response(timeout=10)
    await communicator.wait(timeout=10)
    assert response["status"] == 200, response
    return json.loads(response["body"])


async def test_middleware_and_view_share_one_thread_off_the_event_loop(handler):
    body = await _get(handler, "/whoami")
    assert body["thread"] == body["middleware_thread"]
    assert body["thread"] != threading.get_ident()


async def test_the_next_request_reuses_the_finished_requests_thread(handler):
    first = await _get(handler, "/whoami")
    second = await _get(handler, "/whoami")
    assert first["thread"] == second["thread"]


async def test_concurrent_requests_each_get_their_own_thread(handler):
    # The first "meet" blocks its thread until the second one runs: with a
    # shared thread the second could never run and the first would time out.
    first, second = await asyncio.gather(_get(handler, "/meet"), _get(handler, "/meet"))
    assert first["met"] and second["met"]


@pytest.mark.parametrize("bound", [2, 6])
async def test_at_most_the_bound_of_requests_run_in_threads_at_once_and_the_rest_wait(handler, settings, bound):
    """A burst of 12 requests: at most ``DJANGO_REQUEST_THREADS`` run their
    sync code at once, every one is answered; a larger bound lets more overlap
    (the bound, not the machine, is what held them)."""
    settings.DJANGO_REQUEST_THREADS = bound
    thread_urls.Overlap.most = 0
    bodies = await asyncio.gather(*(_get(handler, "/busy") for _ in range(12)))
    assert len(bodies) == 12
    assert thread_urls.Overlap.most == bound


async def test_a_thread_still_busy_when_its_request_was_torn_down_is_not_reused(handler):
    # asgiref lets a view's sync code finish when its request is cancelled
    # once (a client disconnect); a second cancel (a server shutting down)
    # abandons it, still running, and its thread must not serve anyone else.
    thread_urls.slow_threads.clear()
    scope = {
        "type": "http", "http_version": "1.1", "method": "GET", "path": "/slow", "raw_path": b"/slow",
        "query_string": b"seconds=0.5", "headers": [(b"host", b"testserver")], "scheme": "http",
    }  # fmt: skip
    inbox: asyncio.Queue = asyncio.Queue()
    await inbox.put({"type": "http.request", "body": b"", "more_body": False})

    async def send(message: dict) -> None:
        pass

    request = asyncio.ensure_future(handler(scope, inbox.get, send))
    for _ in range(500):  # until the view sleeps in its thread
        if thread_urls.slow_threads:
            break
        await asyncio.sleep(0.01)
    request.cancel()
    await asyncio.sleep(0.05)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request

    after = await _get(handler, "/whoami")
    assert thread_urls.slow_threads, "the slow view never started"
    assert after["thread"] != thread_urls.slow_threads[0]
