"""Template helpers of the booking pages."""

from __future__ import annotations

import hashlib
from functools import cache
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.translation import get_language

from core.l10n import money_text

register = template.Library()


@register.filter
def money(amount: int, currency: str) -> str:
    """Minor units in the page's language (the page's JS writes the same with ``Intl``)."""
    return money_text(amount, currency, get_language())


@register.filter
def min_price(tiers: list[dict]) -> int:
    """The cheapest price among an event's tiers."""
    return min((tier["price"] for tier in tiers), default=0)


@register.simple_tag
def js_catalogue_url() -> str:
    """The JavaScript translations of the page's language. The language and
    the catalogues' digest are in the URL, so a browser may keep the answer
    a day (``ticketing.urls``) and still never holds an old or other one."""
    query = urlencode({"l": get_language(), "v": _catalogue_digest()})
    return f"{reverse('javascript-catalog')}?{query}"


@cache
def _catalogue_digest() -> str:
    digest = hashlib.sha256()
    for locale_dir in settings.LOCALE_PATHS:
        for path in sorted(locale_dir.glob("*/LC_MESSAGES/djangojs.mo")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
