"""The answer's language where Django's ``LocaleMiddleware`` does not run:
the event-loop fast paths, which must pick the language it would pick (the
switcher's cookie, else ``Accept-Language``, else ``LANGUAGE_CODE``) and
add the headers it adds, byte for byte.

The choice is Django's own function (``get_language_from_request``) run on
the two header values, cached per distinct pair: thousands of requests a
second ask with a handful of different headers, so a request pays one dict
look-up. The headers per language are built once.
"""

from __future__ import annotations

import re
from functools import lru_cache
from types import SimpleNamespace

from django.conf import settings
from django.http.cookie import parse_cookie
from django.utils import translation

#: How ``patch_vary_headers`` splits a ``Vary`` header.
VARY_SPLIT = re.compile(r"\s*,\s*")
#: Longest Accept-Language whose choice is kept (browsers send under 100 bytes).
CACHED_HEADER_BYTES = 256
#: Header names Django reads as ``HTTP_ACCEPT_LANGUAGE``.
ACCEPT_LANGUAGE_NAMES = frozenset({b"accept-language", b"accept_language"})


def scope_language(scope: dict) -> str:
    """The language ``LocaleMiddleware`` would activate for this ASGI request.
    Headers are read as Django's ``ASGIRequest`` reads them into ``META``
    (``_`` as ``-``, repeated ones joined)."""
    accept: list[bytes] = []
    cookies: list[bytes] = []
    for name, value in scope["headers"]:
        if name in ACCEPT_LANGUAGE_NAMES:
            accept.append(value)
        elif name == b"cookie":
            cookies.append(value.rstrip(b"; "))
    cookie_language = None
    if cookies:
        jar = parse_cookie(b"; ".join(cookies).decode("latin-1"))
        cookie_language = jar.get(settings.LANGUAGE_COOKIE_NAME)
    header = b",".join(accept)
    if len(header) > CACHED_HEADER_BYTES or (cookie_language is not None and len(cookie_language) > 16):
        return _language_choose(header, cookie_language)  # no client fills the cache with its own long keys
    return _language_cached(header, cookie_language)


def _language_choose(accept_language: bytes, cookie_language: str | None) -> str:
    request = SimpleNamespace(
        COOKIES={} if cookie_language is None else {settings.LANGUAGE_COOKIE_NAME: cookie_language},
        META={"HTTP_ACCEPT_LANGUAGE": accept_language.decode("latin-1")},
        path_info="/",
    )
    with translation.override(translation.get_language_from_request(request)):
        return translation.get_language()


_language_cached = lru_cache(maxsize=1024)(_language_choose)


@lru_cache(maxsize=64)
def language_headers(language: str, vary: str | None = None) -> dict[str, str]:
    """What ``LocaleMiddleware`` adds to a response in ``language`` whose own
    ``Vary`` is ``vary``: ``Accept-Language`` patched in as
    ``patch_vary_headers`` does it, and ``Content-Language``."""
    fields = VARY_SPLIT.split(vary) if vary else []
    if "accept-language" not in {field.lower() for field in fields}:
        fields.append("Accept-Language")
    return {"Vary": "*" if "*" in fields else ", ".join(fields), "Content-Language": language}
