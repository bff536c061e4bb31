"""The queue API's shapes and errors for the OpenAPI description (``core.openapi``).

The serializers describe ``QueueState.as_dict`` and the challenge issue's
answer; the schema generator alone reads them.
"""

from __future__ import annotations

from rest_framework import serializers

from core.openapi import ErrorDoc
from queue_app.challenge import ChallengeFailed, ChallengeRequired
from reservations.openapi import choice

QUEUE_STATES = ["waiting", "admitted", "expired", "not_in_queue", "sold_out", "closed"]


class QueueStateSerializer(serializers.Serializer):
    state = choice(QUEUE_STATES)
    position = serializers.IntegerField(
        allow_null=True, min_value=1, help_text="Waiting only: 1 is the next to be admitted."
    )
    waiting_total = serializers.IntegerField(min_value=0, help_text="How many wait in this event's queue.")
    eta_seconds = serializers.IntegerField(allow_null=True, min_value=0, help_text="Waiting only: an estimate.")
    likely_sold_out = serializers.BooleanField(help_text="Waiting only: those ahead already cover the free seats.")
    admitted_until = serializers.DateTimeField(allow_null=True, help_text="Admitted only: when the admission lapses.")
    ws = serializers.CharField(help_text="The waiting page's WebSocket path.")


class ChallengeSerializer(serializers.Serializer):
    challenge = serializers.CharField()
    difficulty = serializers.IntegerField(
        min_value=0, help_text="Zero bits `sha256((challenge + nonce).encode())` must start with."
    )
    expires_at = serializers.DateTimeField()
    sitekey = serializers.CharField(required=False, help_text="With the Turnstile verifier: the widget's site key.")


CHALLENGE_REQUIRED = ErrorDoc(403, ChallengeRequired().code, ChallengeRequired().detail)
CHALLENGE_FAILED = ErrorDoc(403, ChallengeFailed().code, ChallengeFailed().detail)
NO_CHALLENGE = ErrorDoc(409, "invalid", "This sale asks for no challenge: join directly.")
