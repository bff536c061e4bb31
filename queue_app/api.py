"""Queue HTTP API: thin views over the queue services."""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from queue_app import services


class EventQueueApi(APIView):
    """``POST`` join (201 new, 200 already in), ``GET`` state, ``DELETE`` leave."""

    def post(self, request: Request, event_id: int) -> Response:
        state, created = services.queue_join(event_id=event_id, user_id=request.user.id)
        return Response(state.as_dict(), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def get(self, request: Request, event_id: int) -> Response:
        return Response(services.queue_state_get(event_id=event_id, user_id=request.user.id).as_dict())

    def delete(self, request: Request, event_id: int) -> Response:
        services.queue_leave(event_id=event_id, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)
