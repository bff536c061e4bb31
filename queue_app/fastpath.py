"""The queue's hot requests served on the event loop, in front of Django.

In an on-sale nearly every request is a join (``POST``) or a state read
(``GET``) of ``/api/events/{id}/queue/``. Through Django's ASGI handler a
request costs a new thread and several ``sync_to_async`` hops before the
view runs (on this 2-core machine Django's trivial ``/healthz`` tops out
near 1,600 requests/s, and a join behind it near 700/s). Here those two
requests run as plain coroutines: one Redis ``GET`` for the token, the
event's sale snapshot from process memory, one ``EVALSHA`` for the join; no
thread, no ORM. The rules are the services' own
(``queue_app.services.queue_join_async`` / ``queue_state_get_async``): this
module only reads the request and writes the contract's response.

Anything it is not sure to answer exactly as Django would goes to Django
unchanged: other paths and methods, requests without ``Authorization:
Token`` (browsers use the session cookie and CSRF), tokens Django would
refuse (unknown, expired, a deactivated user: its 401; a token not yet in
the cache is read from PostgreSQL here, as the booking fast path does, and
the cache filled), hosts Django would
refuse, plain HTTP when ``SECURE_SSL_REDIRECT`` is on, and ``Accept``
headers the JSON renderer would refuse. So does any request with a body:
the queue's reads and joins have none, except the answer to a join
challenge (``queue_app.challenge``), which the view checks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.utils import translation

from accounts.authentication import token_user_id_async
from core.errors import server_error_parts, service_error_parts
from core.fastpath import (
    ASGIApp,
    body_read,
    body_replay,
    json_respond,
    request_headers,
    token_key,
    view_allow_header,
    view_headers,
    view_servable,
)
from core.i18n import language_headers, scope_language
from core.metrics import ROUTE, url_route
from core.request_context import context_note
from queue_app.api import EventQueueApi
from queue_app.services import queue_join_async, queue_state_get_async

QUEUE_PATH = re.compile(r"/api/events/([0-9]+)/queue/")
SAMPLE_PATH = "/api/events/1/queue/"  # names the URL pattern in the metrics (core.metrics.url_route)
SERVED_METHODS = frozenset({"GET", "POST"})
#: Read this much of a body before handing it, whole, to Django.
MAX_BODY_BYTES = 8192

logger = logging.getLogger("django.request")


class QueueFastPath:
    """ASGI middleware: serves the queue's token-authenticated ``POST``/``GET``,
    hands every other HTTP request to ``app`` (Django)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] in SERVED_METHODS:
            match = QUEUE_PATH.fullmatch(scope["path"])
        if match is not None:
            headers = request_headers(scope)
            key = token_key(headers)
            if key is not None and view_servable(scope, headers):
                read = await body_read(receive, MAX_BODY_BYTES)
                if read is None:
                    return  # the client went away: nothing to do, nobody to answer
                body, complete = read
                if complete and not body and await _serve(int(match[1]), key, scope, headers, send):
                    return
                receive = body_replay(body, complete, receive)
        await self.app(scope, receive, send)


def queue_fast_path_wrap(app: ASGIApp) -> ASGIApp:
    """``app`` behind the fast path, or ``app`` alone when the setting
    ``QUEUE_FAST_PATH`` is off (the switch to send every join through the
    Django view, should the fast path ever misbehave)."""
    return QueueFastPath(app) if settings.QUEUE_FAST_PATH else app


async def _serve(event_id: int, key: str, scope: dict, headers: dict[bytes, bytes], send: Callable) -> bool:
    """Answer the request (it has no body); False (nothing sent) when Django
    would answer 401. An error's ``detail`` is worded in the language Django
    would choose (``core.i18n``), and the answer says which, as Django's does."""
    language = scope_language(scope)
    try:
        user_id = await token_user_id_async(key)
        if user_id is None:
            return False
        scope[ROUTE] = url_route(SAMPLE_PATH)
        context_note(user_id=user_id, event_id=event_id)
        if scope["method"] == "POST":
            state, created = await queue_join_async(event_id=event_id, user_id=user_id)
            status, body, extra = (201 if created else 200), state.as_dict(), {}
        else:
            status, body, extra = 200, (await queue_state_get_async(event_id=event_id, user_id=user_id)).as_dict(), {}
    except Exception as exc:
        with translation.override(language):
            parts = service_error_parts(exc)
            if parts is None:
                logger.exception("Internal Server Error: %s", scope["path"])
                parts = server_error_parts()
        status, body, extra = parts.status, parts.body, parts.headers
    answer_headers = {**extra, **view_headers(scope, headers, allow=_allow_header()), **language_headers(language)}
    await json_respond(send, status, body, answer_headers)
    return True


@cache
def _allow_header() -> str:
    return view_allow_header(EventQueueApi)
