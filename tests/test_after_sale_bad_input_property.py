"""Property (Hypothesis): whatever door staff's client sends to the check-in
and a buyer's client sends to the cancellation, the answer is below 500 in
the contract's shape, and a refused request changes nothing (the
strategies of ``tests/test_bad_input_property.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reservations.models import Order, Refund, Seat, Ticket
from tests.reservations.conftest import client_for
from tests.reservations.test_checkin import buy
from tests.test_bad_input_property import (
    PROPERTY,
    _event,
    _send,
    _unchanged_on_refusal,
    big_integers,
    bodies,
    hostile_text,
    json_values,
)

pytestmark = pytest.mark.django_db


def _tickets_and_seats(order: Order) -> tuple:
    return (
        Order.objects.get(pk=order.pk).status,
        list(Ticket.objects.filter(order=order).order_by("id").values_list("status", "checked_in_at", "refund_id")),
        list(Seat.objects.filter(tickets__order=order).order_by("id").values_list("status", flat=True)),
        Refund.objects.count(),
    )


@pytest.fixture
def staff(make_user: Any) -> Any:
    gate = make_user("gate")
    gate.is_staff = True
    gate.save()
    return client_for(gate)


@PROPERTY
@given(data=st.data())
def test_checkin(user: Any, staff: Any, data: st.DataObject) -> None:
    order = Order.objects.first() or buy(_event(queue_enabled=False), user, count=2)
    codes = list(order.tickets.values_list("code", flat=True))
    shaped = st.fixed_dictionaries(
        {"code": st.sampled_from(codes) | hostile_text | json_values},
        optional={"event": st.just(order.event_id) | big_integers | json_values},
    )
    body = data.draw(bodies(shaped))

    response = _unchanged_on_refusal(lambda: _tickets_and_seats(order), lambda: _send(staff, "/api/checkin/", body))

    if response.status_code == 200:
        assert response.json()["ticket"]["code"] in codes


@PROPERTY
@given(data=st.data())
def test_cancel(user: Any, data: st.DataObject) -> None:
    order = Order.objects.first() or buy(_event(queue_enabled=False, cancel_hours=24), user, count=2)
    body = data.draw(bodies(st.dictionaries(hostile_text, json_values, max_size=3)))

    response = _unchanged_on_refusal(
        lambda: _tickets_and_seats(order), lambda: _send(client_for(user), f"/api/orders/{order.id}/cancel/", body)
    )

    assert response.status_code in (200, 400, 413)
