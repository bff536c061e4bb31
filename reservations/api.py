"""Booking HTTP API: thin views over selectors and services."""

from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reservations import selectors
from reservations.serializers import event_data
from ticketing.errors import NotFound


class EventListApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        events = list(selectors.event_list())
        counts = selectors.event_seat_counts(event_ids=[e.id for e in events])
        return Response([event_data(e, counts[e.id]) for e in events])


class EventDetailApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request, event_id: int) -> Response:
        event = selectors.event_get(event_id=event_id)
        if event is None:
            raise NotFound("No such event.")
        counts = selectors.event_seat_counts(event_ids=[event.id])
        return Response(event_data(event, counts[event.id]))
