"""Who is asking, by network address: what the per-address limits count
(registration, login).

The address is the socket's peer (``REMOTE_ADDR``) unless
``TRUSTED_PROXY_COUNT`` says how many proxies of ours stand in front: each
appends the address it received the request from to ``X-Forwarded-For``,
so with N of them the client is the N-th address from the right of
``X-Forwarded-For`` followed by the peer. Anything to the left of that
was written by the client and proves nothing. A header shorter than the
chain, or an entry that is no IP address, falls back to the peer: a
request can never choose the address it is counted under. uvicorn runs
with ``--no-proxy-headers`` so that this function alone decides.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The client's IP address as text (``"unknown"`` when the server gives none)."""
    peer = _ip(request.META.get("REMOTE_ADDR") or "") or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return peer
    chain = [*request.META.get("HTTP_X_FORWARDED_FOR", "").split(","), peer]
    if len(chain) < proxies + 1:
        return peer
    return _ip(chain[-(proxies + 1)]) or peer
