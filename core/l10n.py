"""Money and dates in words for a language, as the pages' ``Intl`` shows them
(both follow Unicode CLDR, here through Babel): the PDF tickets, the
e-mails and the pages' server-side text."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, get_currency_precision
from django.utils.translation import to_locale


@lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    return Locale.parse(to_locale(language))


#: Babel formats from its CLDR patterns on every call (a tenth of the mail
#: worker's CPU per confirmation); the same totals and the same event's date
#: come back order after order, so each answer is kept.
WORDED_KEPT = 4096


@lru_cache(maxsize=WORDED_KEPT)
def money_text(amount: int, currency: str, language: str) -> str:
    """``amount`` in minor units (KRW has none, USD two) as the language writes it: ``₩160,000``."""
    digits = get_currency_precision(currency)
    return format_currency(amount / 10**digits, currency, locale=_locale(language))


@lru_cache(maxsize=16)
def _time_pattern(language: str) -> str:
    """The language's short time with the day period in full (``오후``, not ``PM``)."""
    return _locale(language).time_formats["short"].pattern.replace("a", "aaaa")


@lru_cache(maxsize=WORDED_KEPT)
def date_text(moment: datetime, zone: ZoneInfo, language: str) -> str:
    """The day in full, in ``zone``: ``Sunday, March 1, 2026`` / ``2026년 3월 1일 일요일``."""
    return format_date(moment.astimezone(zone), "full", locale=_locale(language))


@lru_cache(maxsize=WORDED_KEPT)
def time_text(moment: datetime, zone: ZoneInfo, language: str) -> str:
    """The time of day in ``zone`` and the zone's name: ``7:00 PM Korean Standard Time``."""
    locale = _locale(language)
    clock = format_datetime(moment, _time_pattern(language), tzinfo=zone, locale=locale)
    return f"{clock} ({format_datetime(moment, 'zzzz', tzinfo=zone, locale=locale)})"
