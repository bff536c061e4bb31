"""Queue HTTP API: thin views over the queue services."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.client_address import client_address
from core.errors import Invalid
from core.openapi import INVALID, NOT_FOUND, RATE_LIMITED, errors
from core.responses import not_modified_response, stored_json_response
from core.serializers import Text
from queue_app import selectors, services
from queue_app.challenge import PROOF_MAX_CHARS, Proof
from queue_app.openapi import (
    CHALLENGE_FAILED,
    CHALLENGE_REQUIRED,
    DRAW_PENDING,
    ENTRY_PATTERN,
    NO_CHALLENGE,
    NO_PREQUEUE,
    ChallengeSerializer,
    draw_response,
    queue_state_response,
)
from reservations.openapi import SALE_CLOSED, SALE_NOT_OPEN, SOLD_OUT

#: Requests with ``Authorization: Token`` and no body are answered by ``queue_app.fastpath``, the same way.
FAST_PATH_NOTE = "With a token and no body, answered on the event loop (`queue_app.fastpath`), the same way."


class JoinInput(serializers.Serializer):
    """A join's body: empty, or the answer to a join challenge (strings, API.md)."""

    challenge = Text(required=False, max_length=PROOF_MAX_CHARS, trim_whitespace=False)
    nonce = Text(required=False, max_length=PROOF_MAX_CHARS, trim_whitespace=False)

    def proof(self) -> Proof | None:
        data = self.validated_data
        if "challenge" not in data and "nonce" not in data:
            return None
        if "challenge" not in data or "nonce" not in data:
            raise Invalid(_("A challenge's answer needs both challenge and nonce."))
        return Proof(challenge=data["challenge"], nonce=data["nonce"])


class EventQueueApi(APIView):
    """``POST`` join (201 new, 200 already in), ``GET`` state, ``DELETE`` leave."""

    @extend_schema(
        tags=["queue"],
        summary="Join the waiting queue",
        description=(
            "Idempotent: joining again never moves a person back (the same position, or `admitted`). 201 for a "
            "new place, 200 when already in. An event with a join challenge wants `{challenge, nonce}` on a "
            "first join. Between an event's `prequeue_opens_at` and `sale_opens_at` the state is `pre_queue`, "
            "with the person's draw `entry` (kept in every later state). " + FAST_PATH_NOTE
        ),
        request=JoinInput,
        responses={
            200: OpenApiResponse(queue_state_response(), description="Already in line (or admitted)."),
            201: OpenApiResponse(queue_state_response(), description="Joined."),
        },
    )
    @errors(
        NOT_FOUND, INVALID, CHALLENGE_REQUIRED, CHALLENGE_FAILED, SALE_NOT_OPEN, SOLD_OUT, SALE_CLOSED, RATE_LIMITED
    )
    def post(self, request: Request, event_id: int) -> Response:
        services.queue_event_require(event_id=event_id)  # an unknown event is 404 whatever the body
        body = JoinInput(data=request.data)  # no body reads as {}; null, a list or a number is 400
        body.is_valid(raise_exception=True)
        state, created = services.queue_join(
            event_id=event_id, user_id=request.user.id, proof=body.proof(), address=client_address(request)
        )
        return Response(state.as_dict(), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        tags=["queue"],
        summary="My queue state",
        description="The waiting page's fallback while its WebSocket is down. " + FAST_PATH_NOTE,
        responses={200: queue_state_response()},
    )
    @errors(NOT_FOUND)
    def get(self, request: Request, event_id: int) -> Response:
        return Response(services.queue_state_get(event_id=event_id, user_id=request.user.id).as_dict())

    @extend_schema(
        tags=["queue"],
        summary="Leave the queue",
        description="Or give up an admission: the place goes to the next person at once.",
        responses={204: OpenApiResponse(description="Left.")},
    )
    @errors(NOT_FOUND)
    def delete(self, request: Request, event_id: int) -> Response:
        services.queue_leave(event_id=event_id, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueChallengeApi(APIView):
    """``POST``: a single-use join challenge for this person and event (201)."""

    @extend_schema(
        tags=["queue"],
        summary="Get a join challenge",
        description="Single use, bound to the person and the event (bot defence).",
        request=None,
        responses={201: ChallengeSerializer},
    )
    @errors(NOT_FOUND, NO_CHALLENGE, RATE_LIMITED)
    def post(self, request: Request, event_id: int) -> Response:
        issued = services.queue_challenge_issue(event_id=event_id, user_id=request.user.id)
        return Response(issued, status=status.HTTP_201_CREATED)


#: The drawn list never changes: caches may keep it as long as they like.
DRAW_ENTRIES_CACHE_CONTROL = "public, max-age=86400, immutable"


class DrawApi(APIView):
    """``GET``: the draw's public record, for everyone (no login: nobody's data is in it)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["queue"],
        summary="The pre-queue draw's public record",
        description=(
            "Before the draw (`pending`) the commitment, the SHA-256 of the secret seed, fixed before the first "
            "entry; after it (`drawn`) the seed, the algorithm, the count and the time: with the drawn list, "
            "anyone can check the order."
        ),
        responses={200: OpenApiResponse(draw_response(), description="`pending` or `drawn`.")},
    )
    @errors(NO_PREQUEUE)
    def get(self, request: Request, event_id: int) -> Response:
        return Response(selectors.draw_public_get(event_id=event_id))


class DrawEntriesApi(APIView):
    """``GET``: the entry ids in drawn order (409 ``draw_pending`` before the
    draw), gzipped for clients that take it; ``If-None-Match`` with its tag is 304."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["queue"],
        summary="The drawn entries, in order",
        description=(
            "Every pre-queue entry id in drawn order: ascending `sha256(bytes.fromhex(seed) + entry)` hex. "
            "It never changes once drawn; gzipped for clients that take it, and shared caches may keep it."
        ),
        parameters=[
            OpenApiParameter(
                "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="The list's `ETag`."
            ),
            OpenApiParameter(
                "ETag",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                response=[200, 304],
                description="The drawn list's tag.",
            ),
        ],
        responses={
            200: OpenApiResponse(
                {"type": "array", "items": {"type": "string", "pattern": ENTRY_PATTERN}},
                description="The entry ids in drawn order.",
            ),
            304: OpenApiResponse(description="`If-None-Match` named the list."),
        },
    )
    @errors(NO_PREQUEUE, DRAW_PENDING)
    def get(self, request: Request, event_id: int) -> HttpResponse:
        tag = selectors.draw_entries_tag(event_id=event_id)
        headers = {"ETag": tag, "Cache-Control": DRAW_ENTRIES_CACHE_CONTROL}
        not_modified = not_modified_response(request, headers)
        if not_modified is not None:
            return not_modified
        return stored_json_response(request, selectors.draw_entries_get(event_id=event_id), headers)
