"""Template helpers of the booking pages."""

from __future__ import annotations

from django import template

register = template.Library()

# ISO 4217 currencies without minor units: their amounts are whole units.
ZERO_DECIMAL_CURRENCIES = frozenset({"KRW", "JPY", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"})


@register.filter
def money(amount: int, currency: str) -> str:
    """Minor units as a plain server-side fallback; the page's JS re-formats in the viewer's locale."""
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return f"{amount:,} {currency}"
    return f"{amount / 100:,.2f} {currency}"


@register.filter
def min_price(tiers: list[dict]) -> int:
    """The cheapest price among an event's tiers."""
    return min((tier["price"] for tier in tiers), default=0)
