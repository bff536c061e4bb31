"""A deactivated user loses API access at once on the live server: through
Django and through the queue's fast path, whose token cache was warm."""

from __future__ import annotations

import time

import pytest

from accounts.services import token_issue
from tests.faults.conftest import api, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_deactivated_user_gets_401_within_a_second(stack, make_user, make_event):
    event = make_event(queue_enabled=True)
    user = make_user("leaver")
    token = token_issue(user=user)
    live = stack()
    live.start("web")
    queue = f"/api/events/{event.id}/queue/"
    assert api(live.url, "POST", queue, token=token)[0] == 201  # the token is now cached (fast path)
    assert api(live.url, "GET", "/api/orders/", token=token)[0] == 200

    user.is_active = False
    user.save()
    revoked_at = time.monotonic()

    def refused() -> bool:
        return (
            api(live.url, "GET", queue, token=token)[0] == 401
            and api(live.url, "GET", "/api/orders/", token=token)[0] == 401
        )

    assert wait_for(refused, timeout=1, every=0.05)
    assert time.monotonic() - revoked_at <= 1
