"""The queue API's shapes and errors for the OpenAPI description (``core.openapi``).

The serializers describe ``QueueState.as_dict`` (its ``pre_queue`` state
has fields of its own: one ``oneOf`` keyed on ``state``), the challenge
issue's answer and the draw's public record (``selectors.draw_public_get``,
``pending`` or ``drawn``); the schema generator alone reads them.
"""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from core.openapi import ErrorDoc
from queue_app.challenge import ChallengeFailed, ChallengeRequired
from queue_app.draw import ALGORITHM, ENTRY_BYTES
from queue_app.selectors import DrawPending
from reservations.openapi import choice

QUEUE_STATES = ["waiting", "admitted", "expired", "not_in_queue", "sold_out", "closed"]
#: A pre-queue entry id (``queue_app.draw.draw_entry_new``), and the SHA-256 hex of the commitment.
ENTRY_PATTERN = rf"^[0-9a-f]{{{2 * ENTRY_BYTES}}}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


def entry_field(**kwargs: object) -> serializers.RegexField:
    return serializers.RegexField(ENTRY_PATTERN, help_text="The person's opaque pre-queue entry id.", **kwargs)


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
    entry = entry_field(required=False)


class PreQueueStateSerializer(serializers.Serializer):
    """Between the pre-queue's and the sale's opening: an entry in the draw, no place yet."""

    state = choice(["pre_queue"])
    opens_at = serializers.DateTimeField(help_text="The sale's opening, when the draw places every entry.")
    waiting_total = serializers.IntegerField(min_value=0, help_text="How many entered the pre-queue.")
    entry = entry_field()
    ws = serializers.CharField(help_text="The waiting page's WebSocket path.")


def queue_state_response() -> PolymorphicProxySerializer:
    """A queue state: the pre-queue's own shape, or the queue's (``entry`` kept after a pre-queue)."""
    return PolymorphicProxySerializer(
        component_name="AnyQueueState",
        serializers=[PreQueueStateSerializer, QueueStateSerializer],
        resource_type_field_name=None,
    )


class DrawPendingSerializer(serializers.Serializer):
    state = choice(["pending"])
    commitment = serializers.RegexField(SHA256_PATTERN, help_text="SHA-256 (hex) of the secret seed.")
    opens_at = serializers.DateTimeField(help_text="The sale's opening: the draw is made then.")


class DrawDrawnSerializer(serializers.Serializer):
    state = choice(["drawn"])
    commitment = serializers.RegexField(SHA256_PATTERN, help_text="SHA-256 (hex) of the seed.")
    seed = serializers.RegexField(r"^[0-9a-f]+$", help_text="The seed, in hex: its SHA-256 is the commitment.")
    algorithm = choice([ALGORITHM], help_text="Entries in ascending `sha256(bytes.fromhex(seed) + entry)` hex.")
    entrants = serializers.IntegerField(min_value=0)
    drawn_at = serializers.DateTimeField()
    opens_at = serializers.DateTimeField(help_text="The sale's opening.")


def draw_response() -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name="DrawRecord",
        serializers=[DrawPendingSerializer, DrawDrawnSerializer],
        resource_type_field_name=None,
    )


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
NO_PREQUEUE = ErrorDoc(404, "not_found", "This event has no pre-queue draw.")
DRAW_PENDING = ErrorDoc(409, DrawPending().code, DrawPending().detail)
