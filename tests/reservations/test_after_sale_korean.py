"""After the sale in Korean: the check-in and cancellation API details, the
organizer's refund actions and messages and the door's live figures follow
the request's language (Accept-Language), and stay English otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from reservations.checkin import ticket_check_in
from reservations.models import Event, Order, Ticket
from tests.reservations.conftest import client_for
from tests.reservations.test_checkin import buy

pytestmark = pytest.mark.django_db

KO = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.8"}
HANGUL = "\uac00-\ud7a3"


@pytest.fixture
def event(make_event: Any) -> Event:
    return make_event(cancel_hours=24)


@pytest.fixture
def order(event: Event, user: Any) -> Order:
    return buy(event, user)


@pytest.fixture
def door(make_user: Any) -> APIClient:
    staff = make_user("gate")
    staff.is_staff = True
    staff.save()
    return client_for(staff)


def _error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Language"] == "ko"
    body = response.json()
    assert body["error"] == code
    return body


def test_check_in_refusals_are_worded_in_korean(door: APIClient, order: Order, make_event: Any) -> None:
    first, second = order.tickets.order_by("id")
    body = _error(door.post("/api/checkin/", {}, format="json", **KO), 400, "invalid")
    assert body["detail"] == "code가 필요합니다. 티켓 코드를 문자열로 보내 주세요."
    assert body["fields"] == {"code": ["필수 항목입니다."]}
    body = _error(door.post("/api/checkin/", {"code": "no/such/code"}, format="json", **KO), 400, "invalid")
    assert body["detail"] == "티켓 코드가 아닙니다."
    body = _error(door.post("/api/checkin/", {"code": first.code, "event": "x"}, format="json", **KO), 400, "invalid")
    assert body["detail"] == "event는 공연 ID여야 합니다." and body["fields"] == {"event": ["공연 ID여야 합니다."]}
    other = make_event()
    body = _error(
        door.post("/api/checkin/", {"code": first.code, "event": other.id}, format="json", **KO), 409, "wrong_event"
    )
    assert body["detail"] == "다른 공연의 티켓입니다."

    assert door.post("/api/checkin/", {"code": first.code}, format="json", **KO).status_code == 200
    body = _error(door.post("/api/checkin/", {"code": first.code}, format="json", **KO), 409, "already_checked_in")
    assert body["detail"] == "이미 입장 처리된 티켓입니다."
    Ticket.objects.filter(pk=second.pk).update(status=Ticket.Status.VOID)
    body = _error(door.post("/api/checkin/", {"code": second.code}, format="json", **KO), 409, "ticket_void")
    assert body["detail"] == "무효 티켓입니다. 주문이 취소되었거나 환불되었습니다."
    english = door.post("/api/checkin/", {"code": first.code}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "This ticket was already checked in."


def test_only_door_staff_is_told_so_in_korean(auth_client: APIClient) -> None:
    body = _error(auth_client.post("/api/checkin/", {"code": "A" * 22}, format="json", **KO), 403, "forbidden")
    assert body["detail"] == "입장 확인 담당자만 티켓을 입장 처리할 수 있습니다."


def test_cancellation_refusals_are_worded_in_korean(order: Order, auth_client: APIClient, event: Event) -> None:
    cancel = f"/api/orders/{order.id}/cancel/"
    body = _error(auth_client.post(cancel, [], format="json", **KO), 400, "invalid")
    assert body["detail"] == "이 요청은 본문 없이 보내거나 빈 JSON 객체만 보낼 수 있습니다."
    deadline, event.cancel_until = event.cancel_until, None
    event.save()  # and out of the booking cache
    body = _error(auth_client.post(cancel, **KO), 409, "cancel_closed")
    assert body["detail"].startswith("이 예매는 더 이상 취소할 수 없습니다.")
    event.cancel_until = deadline
    event.save()
    ticket_check_in(code=order.tickets.first().code, by_user_id=order.user_id)
    body = _error(auth_client.post(cancel, **KO), 409, "already_checked_in")
    assert body["detail"] == "이 주문의 티켓으로 이미 입장했기 때문에 예매를 취소할 수 없습니다."
    assert Order.objects.get(pk=order.pk).status == "paid"


@pytest.fixture
def organizer(client: Client) -> Any:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    client.force_login(admin)
    return admin


def test_the_admins_refund_actions_and_messages_are_korean(client: Client, organizer: Any, order: Order) -> None:
    first, second = order.tickets.order_by("id")
    ticket_check_in(code=second.code, by_user_id=organizer.id)
    listing = client.get(reverse("admin:reservations_ticket_changelist"), **KO).content.decode()
    assert "선택한 티켓 환불 (좌석 다시 판매)" in listing
    orders = client.get(reverse("admin:reservations_order_changelist"), **KO).content.decode()
    assert "선택한 주문 취소·환불 (좌석 다시 판매)" in orders

    response = client.post(
        reverse("admin:reservations_ticket_changelist"),
        {"action": "refund_tickets", "_selected_action": [first.id, second.id]},
        follow=True,
        **KO,
    )

    said = [str(m) for m in response.context["messages"]]
    assert "주문 1건의 티켓 1매를 환불했습니다. 좌석은 다시 판매됩니다." in said
    assert "이미 입장한 티켓 1매는 환불하지 않았습니다." in said
    assert Ticket.objects.get(pk=first.pk).status == "void"


def test_the_door_figures_page_is_korean(client: Client, organizer: Any, order: Order, event: Event) -> None:
    ticket_check_in(code=order.tickets.first().code, by_user_id=organizer.id)
    changelist = client.get(reverse("admin:reservations_event_changelist"), **KO).content.decode()
    assert "입장 현황 (실시간)" in changelist and "2매 중 1매" in changelist and "입장 완료" in changelist
    page = client.get(reverse("admin:reservations_event_door"), **KO).content.decode()
    assert '<html lang="ko"' in page
    for words in (
        "실시간 입장 현황",
        "마지막 스캔",
        "수치는 몇 초마다 갱신됩니다",
        "{time} 갱신",
        "오프라인, 다시 시도하는 중",
    ):
        assert words in page, words
    assert "Last scan" not in page and "Door check-in" not in page
    english = client.get(reverse("admin:reservations_event_door"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Door check-in, live" in english and "updated {time}" in english
