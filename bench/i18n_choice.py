"""Benchmark: what choosing the answer's language costs a fast-path request.

The event-loop fast paths answer thousands of requests a second and must
word errors in the language Django's ``LocaleMiddleware`` would choose
(``core.i18n``). Measured here, CPU per request, on the same process:

* ``fast_choice_us``: ``scope_language`` + ``language_headers`` (what every
  fast-path answer pays), for no ``Accept-Language``, a browser's Korean
  one, and that header with a cookie jar holding the switcher's cookie;
* ``django_choice_us``: ``LocaleMiddleware``'s request and response steps on
  a Django request already built from the same scope (what the same choice
  costs a request Django serves);
* ``error_render_us`` / ``error_render_ko_us``: putting a booking error into
  words, in the default language and inside ``translation.override("ko")``
  as the fast paths do (paid only by an error answer).

Needs no database or Redis. Run: ``python bench/i18n_choice.py``. Prints one
JSON object last.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
os.environ.setdefault("DATABASE_URL", "postgres://bench@127.0.0.1:1/none")  # never connected
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")

import django  # noqa: E402

django.setup()

from django.core.handlers.asgi import ASGIRequest  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.middleware.locale import LocaleMiddleware  # noqa: E402
from django.utils import translation  # noqa: E402

from core.errors import service_error_parts  # noqa: E402
from core.i18n import language_headers, scope_language  # noqa: E402
from reservations.errors import event_not_found, limit_exceeded  # noqa: E402

CASES = {
    "none": [],
    "korean_browser": [(b"accept-language", b"ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7")],
    "korean_with_cookies": [
        (b"accept-language", b"ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"),
        (b"cookie", b"csrftoken=Zx81hQp0sXkT4GvY2mN7; django_language=ko; theme=dark"),
    ],
}


def _scope(extra: list[tuple[bytes, bytes]]) -> dict:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"authorization", b"Token 0123456789abcdef0123456789abcdef"),
        (b"accept", b"application/json"),
        *extra,
    ]
    return {"type": "http", "method": "POST", "path": "/api/events/1/queue/", "query_string": b"", "headers": headers}


def _cpu_us(work, rounds: int) -> float:
    work()  # warm caches, as a running server's are
    started = time.process_time()
    for _ in range(rounds):
        work()
    return round((time.process_time() - started) / rounds * 1e6, 3)


def main() -> None:
    result: dict[str, object] = {}
    middleware = LocaleMiddleware(lambda request: HttpResponse())
    for name, extra in CASES.items():
        scope = _scope(extra)

        def fast(scope: dict = scope) -> None:
            language_headers(scope_language(scope))

        request, response = ASGIRequest(scope, None), HttpResponse()

        def django_side(request: ASGIRequest = request, response: HttpResponse = response) -> None:
            middleware.process_request(request)
            middleware.process_response(request, response)
            del response["Vary"], response["Content-Language"]
            translation.deactivate()

        result[f"fast_choice_us_{name}"] = _cpu_us(fast, 200_000)
        result[f"django_choice_us_{name}"] = _cpu_us(django_side, 20_000)
        result[f"ratio_{name}"] = round(result[f"django_choice_us_{name}"] / result[f"fast_choice_us_{name}"], 1)

    def render() -> None:
        service_error_parts(event_not_found())
        service_error_parts(limit_exceeded(4))

    def render_ko() -> None:
        with translation.override("ko"):
            render()

    result["error_render_us"] = _cpu_us(render, 50_000)
    result["error_render_ko_us"] = _cpu_us(render_ko, 50_000)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
