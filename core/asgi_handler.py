"""Django's ASGI handler, run the way a WSGI server runs Django: the whole
request (middleware and view) in one thread hop, on a reused thread.

Stock ``ASGIHandler`` builds the middleware chain in async mode. Every
``MiddlewareMixin`` then hops to a thread for its ``process_request`` and
``process_response``; a sync-only middleware in the stack (WhiteNoise's)
hops back with ``async_to_sync`` around the rest; the sync view hops again.
All our views are sync, so here the chain is built in sync mode and entered
with one ``sync_to_async`` per request.

That hop lands on the request's own thread (asgiref's
``ThreadSensitiveContext``). asgiref 3.13 starts that thread for the request
and a second one to join it afterwards; it also lets the caller supply the
executor instead (``ThreadSensitiveContext(executor=...)``, owned and reused
by the caller), so a finished request hands its single-thread executor back
to a pool for the next one. A request still gets a thread of its own while
it runs. An executor still running work when its request ends (a request
cancelled by a client disconnect while its sync code runs) is not reused:
it is shut down without waiting and its thread ends with that work.

At most ``DJANGO_REQUEST_THREADS`` requests run their sync code at once per
process; the rest wait on the event loop, where waiting costs nothing. A
WSGI server bounds its threads the same way. Unbounded, a burst of
CPU-bound reads (the 1,000-seat map, 400 viewers) put hundreds of threads
in contention for the GIL, and the event loop, one thread among them, got
a sliver of it: joins, holds and checkouts on the fast paths, answered in
a millisecond of their own, waited seconds (see docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

IDLE_EXECUTORS_KEPT = 64
#: Scope key: when the request reached Django's handler (``time.perf_counter()``),
#: so a view can tell its whole time in the process, the wait for the body,
#: the thread and the GIL included.
RECEIVED_AT = "ticketing.received_at"


class RequestExecutor(ThreadPoolExecutor):
    """One worker thread, and a count of the work it has not finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="django-request")
        self._unfinished = 0
        self._count_lock = threading.Lock()

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        with self._count_lock:
            self._unfinished += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future) -> None:
        with self._count_lock:
            self._unfinished -= 1

    @property
    def idle(self) -> bool:
        return self._unfinished == 0


class PooledThreadASGIHandler(ASGIHandler):
    """``ASGIHandler`` with a sync middleware chain and reused request threads."""

    def __init__(self) -> None:
        super().__init__()
        self._idle: list[RequestExecutor] = []
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _slot(self) -> asyncio.Semaphore:
        """This event loop's bound on requests in their threads at once."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            slot = self._slots[loop] = asyncio.Semaphore(settings.DJANGO_REQUEST_THREADS)
        return slot

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        scope[RECEIVED_AT] = time.perf_counter()
        async with self._slot():
            await self._handle_in_thread(scope, receive, send)

    async def _handle_in_thread(self, scope: dict, receive: Callable, send: Callable) -> None:
        executor = self._idle.pop() if self._idle else RequestExecutor()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            if executor.idle and len(self._idle) < IDLE_EXECUTORS_KEPT:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)


def get_asgi_application() -> PooledThreadASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the pooled handler."""
    django.setup(set_prefix=False)
    return PooledThreadASGIHandler()
