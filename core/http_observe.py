"""What every HTTP request gets on its way in and out, in front of the fast
paths and Django alike: a request id, and its duration in the histogram.

The request id is the client's ``X-Request-ID`` when it is a plain token
(a proxy's or a load balancer's, so one id follows the request through
them), else a new one; it is set for the request's log lines and its
Celery tasks (``core.request_context``) and returned as ``X-Request-ID``.

The duration runs from the request's arrival to the end of the answer,
labelled with the URL pattern that served it (``scope[ROUTE]``: set by the
fast path that answered, else by ``core.middleware.RequestContextMiddleware``
inside Django), the method and the status. One send wrapper does both, the
cheapest way to see the status on the way out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.fastpath import ASGIApp
from core.metrics import ROUTE, http_request_observe, metrics_on
from core.request_context import REQUEST_ID, request_id_take

REQUEST_ID_HEADER = b"x-request-id"


class HttpObserver:
    """ASGI middleware for ``http`` scopes; other scopes pass through."""

    def __init__(self, app: ASGIApp, *, timed: bool) -> None:
        self.app = app
        self.timed = timed

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.perf_counter()
        given = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                given = value
        request_id = request_id_take(given)
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        status = 0

        async def send_observed(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            status = status or 500  # what the server answers for an application that raised
            raise
        finally:
            REQUEST_ID.reset(token)
            if self.timed and status:  # no status: the client left before any answer
                http_request_observe(scope.get(ROUTE), scope["method"], status, time.perf_counter() - arrived)


def http_observe_wrap(app: ASGIApp) -> ASGIApp:
    """``app`` behind the observer; requests are timed unless metrics are off."""
    return HttpObserver(app, timed=metrics_on())
