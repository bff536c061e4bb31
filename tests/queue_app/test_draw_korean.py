"""The pre-queue and its draw in Korean: the draw endpoints' and the
pre-queue's refusals, the organizer's "Pre-queue draw" column and the
pre-queue's form error follow the request's language (Accept-Language),
and stay English otherwise."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from rest_framework.test import APIClient

from queue_app.services import draws_run
from reservations.models import Event
from tests.queue_app.test_draw import _open, _prequeue_event, _url

pytestmark = pytest.mark.django_db

KO = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.8"}


def test_the_draw_endpoints_refuse_in_korean_for_a_korean_client(make_event, users, client_for) -> None:
    anyone = APIClient()
    plain = make_event()
    missing = anyone.get(_url(plain, "draw/"), **KO)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert missing.json()["detail"] == "이 공연에는 사전 대기열 추첨이 없습니다."
    assert missing["Content-Language"] == "ko"

    event = _prequeue_event(make_event)
    client_for(users(1)[0]).post(_url(event))
    pending = anyone.get(_url(event, "draw/entries/"), **KO)
    assert (pending.status_code, pending.json()["error"]) == (409, "draw_pending")
    assert pending.json()["detail"] == "아직 추첨 전입니다. 추첨은 예매가 시작될 때 진행됩니다."
    english = anyone.get(_url(event, "draw/entries/"))
    assert english.json()["detail"] == "The draw has not been made yet: it is made when the sale opens."
    assert anyone.get(_url(plain, "draw/")).json()["detail"] == "This event has no pre-queue draw."


def test_a_join_before_the_prequeue_opens_is_refused_in_korean(make_event, users, client_for) -> None:
    event = make_event(opens_in=3600, prequeue_minutes=30)
    refused = client_for(users(1)[0]).post(_url(event), **KO)
    assert (refused.status_code, refused.json()["error"]) == (409, "sale_not_open")
    assert refused.json()["detail"] == "아직 예매가 시작되지 않았습니다."
    assert refused.json()["opens_at"] == event.prequeue_opens_at.isoformat()


def test_the_organizers_draw_column_before_and_after_the_draw_in_korean(
    make_event, users, client_for, staff_client_for
) -> None:
    event = _prequeue_event(make_event)
    for user in users(2):
        client_for(user).post(_url(event))
    admin = staff_client_for()

    def column(**headers: Any) -> str:
        page = admin.get("/admin/reservations/event/", **headers).content.decode()
        return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))

    before = column(**KO)
    assert "사전 대기열 추첨" in before
    assert f"응모 2건, 시드의 SHA-256: {event.draw_commitment}" in before
    english = column(HTTP_ACCEPT_LANGUAGE="en")
    assert "Pre-queue draw" in english and f"2 entries; the seed's SHA-256 is {event.draw_commitment}" in english

    _open(event)
    assert draws_run() == 1
    after = column(**KO)
    assert re.search(r"\d{4}년 \d+월 \d+일 \d+:\d\d \S+ 추첨 완료: 참가 2명", after), after
    assert re.search(r"Drawn at .+: 2 entrants", column(HTTP_ACCEPT_LANGUAGE="en"))


def test_removing_an_opened_prequeue_is_refused_in_the_organizers_language(make_event) -> None:
    event = _prequeue_event(make_event)
    event.prequeue_opens_at = None
    with translation.override("ko"), pytest.raises(ValidationError) as refused:
        event.full_clean(exclude=["venue"])
    with translation.override("ko"):
        assert refused.value.message_dict["prequeue_opens_at"] == [
            "사전 대기열이 이미 열렸습니다. 여는 시각을 옮길 수는 있지만 없앨 수는 없습니다."
        ]
    assert Event.objects.get(pk=event.id).prequeue_opens_at is not None
