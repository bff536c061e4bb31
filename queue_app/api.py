"""Queue HTTP API: thin views over the queue services."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.client_address import client_address
from core.errors import Invalid
from core.responses import not_modified_response, stored_json_response
from queue_app import selectors, services
from queue_app.challenge import PROOF_MAX_CHARS, Proof


class _Text(serializers.CharField):
    """A JSON string, and only a string (DRF's ``CharField`` would take ``12`` as ``"12"``)."""

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class JoinInput(serializers.Serializer):
    """A join's body: empty, or the answer to a join challenge (strings, API.md)."""

    challenge = _Text(required=False, max_length=PROOF_MAX_CHARS, trim_whitespace=False)
    nonce = _Text(required=False, max_length=PROOF_MAX_CHARS, trim_whitespace=False)

    def proof(self) -> Proof | None:
        data = self.validated_data
        if "challenge" not in data and "nonce" not in data:
            return None
        if "challenge" not in data or "nonce" not in data:
            raise Invalid("A challenge's answer needs both challenge and nonce.")
        return Proof(challenge=data["challenge"], nonce=data["nonce"])


class EventQueueApi(APIView):
    """``POST`` join (201 new, 200 already in), ``GET`` state, ``DELETE`` leave."""

    def post(self, request: Request, event_id: int) -> Response:
        services.queue_event_require(event_id=event_id)  # an unknown event is 404 whatever the body
        body = JoinInput(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        state, created = services.queue_join(
            event_id=event_id, user_id=request.user.id, proof=body.proof(), address=client_address(request)
        )
        return Response(state.as_dict(), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def get(self, request: Request, event_id: int) -> Response:
        return Response(services.queue_state_get(event_id=event_id, user_id=request.user.id).as_dict())

    def delete(self, request: Request, event_id: int) -> Response:
        services.queue_leave(event_id=event_id, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueChallengeApi(APIView):
    """``POST``: a single-use join challenge for this person and event (201)."""

    def post(self, request: Request, event_id: int) -> Response:
        issued = services.queue_challenge_issue(event_id=event_id, user_id=request.user.id)
        return Response(issued, status=status.HTTP_201_CREATED)


#: The drawn list never changes: caches may keep it as long as they like.
DRAW_ENTRIES_CACHE_CONTROL = "public, max-age=86400, immutable"


class DrawApi(APIView):
    """``GET``: the draw's public record, for everyone (no login: nobody's data is in it)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request, event_id: int) -> Response:
        return Response(selectors.draw_public_get(event_id=event_id))


class DrawEntriesApi(APIView):
    """``GET``: the entry ids in drawn order (409 ``draw_pending`` before the
    draw), gzipped for clients that take it; ``If-None-Match`` with its tag is 304."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request, event_id: int) -> HttpResponse:
        tag = selectors.draw_entries_tag(event_id=event_id)
        headers = {"ETag": tag, "Cache-Control": DRAW_ENTRIES_CACHE_CONTROL}
        not_modified = not_modified_response(request, headers)
        if not_modified is not None:
            return not_modified
        return stored_json_response(request, selectors.draw_entries_get(event_id=event_id), headers)
