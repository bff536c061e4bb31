"""The join challenge (bot defence, API.md "Join challenge").

An event with ``challenge_bits`` > 0 asks a person joining for the first
time to prove something first. ``POST /api/events/{id}/queue/challenge/``
issues a challenge, single use and bound to the person and the event (a
Redis key with a short expiry); the join then carries ``{"challenge",
"nonce"}``. Which proof is asked is a setting, ``JOIN_CHALLENGE_VERIFIER``,
naming a ``JoinVerifier``:

* ``ProofOfWork`` (the default): ``sha256(challenge + nonce)`` must start
  with ``challenge_bits`` zero bits. Finding a nonce costs the browser
  about 2^bits hashes; checking it costs the server one.
* ``TurnstileVerifier``: Cloudflare Turnstile; the nonce is the widget's
  token, checked with Turnstile's ``siteverify`` (``TURNSTILE_SECRET_KEY``;
  ``TURNSTILE_VERIFY_URL`` points the tests at a local server that speaks
  the same protocol).

Either way the challenge itself is consumed by the check (``GETDEL``): a
reused, expired, foreign or made-up one fails, whatever the proof.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from core.errors import Forbidden
from core.redis import get_redis
from queue_app.keys import challenge_key

logger = logging.getLogger(__name__)

#: How long an issued challenge may be answered.
CHALLENGE_SECONDS = 120
#: Longest challenge or nonce taken (a Turnstile token is up to 2,048 characters).
PROOF_MAX_CHARS = 2048


class ChallengeRequired(Forbidden):
    def __init__(self) -> None:
        super().__init__("challenge_required", _("This sale asks for a challenge before you join; get one first."))


class ChallengeFailed(Forbidden):
    def __init__(self) -> None:
        super().__init__("challenge_failed", _("The challenge was wrong, expired or already used; get a new one."))


@dataclass(frozen=True)
class Proof:
    """What a join carries: the challenge it answers and the answer."""

    challenge: str
    nonce: str


def zero_bits_lead(digest: bytes, bits: int) -> bool:
    """True when ``digest`` starts with at least ``bits`` zero bits."""
    whole, rest = divmod(bits, 8)
    if digest[:whole] != bytes(whole):
        return False
    return rest == 0 or digest[whole] >> (8 - rest) == 0


class JoinVerifier:
    """Issues challenges and checks the proofs of one kind."""

    def issue(self, *, event_id: int, user_id: int, bits: int) -> dict[str, Any]:
        """A new single-use challenge for the person: the contract's body."""
        challenge = secrets.token_urlsafe(18)
        get_redis().set(challenge_key(event_id, challenge), f"{user_id}:{bits}", ex=CHALLENGE_SECONDS)
        return {"challenge": challenge, "difficulty": bits, "expires_at": time.time() + CHALLENGE_SECONDS}

    def verify(self, *, event_id: int, user_id: int, bits: int, proof: Proof, address: str) -> None:
        """Consume the challenge and check the proof; raise ``ChallengeFailed``."""
        bound = get_redis().getdel(challenge_key(event_id, proof.challenge))
        if bound is None or bound.decode() != f"{user_id}:{bits}":
            raise ChallengeFailed()
        if not self.proof_holds(proof=proof, bits=bits, address=address):
            raise ChallengeFailed()

    def proof_holds(self, *, proof: Proof, bits: int, address: str) -> bool:
        raise NotImplementedError


class ProofOfWork(JoinVerifier):
    """``sha256(challenge + nonce)`` starts with ``bits`` zero bits: one hash to check."""

    def proof_holds(self, *, proof: Proof, bits: int, address: str) -> bool:
        return zero_bits_lead(hashlib.sha256((proof.challenge + proof.nonce).encode("utf-8")).digest(), bits)


class TurnstileVerifier(JoinVerifier):
    """Cloudflare Turnstile: the nonce is the widget's token, checked once with
    ``siteverify`` (form POST: secret, response, remoteip; JSON answer with
    ``success``). A provider that does not answer fails the proof: the
    person gets a new challenge and tries again."""

    def issue(self, *, event_id: int, user_id: int, bits: int) -> dict[str, Any]:
        return {**super().issue(event_id=event_id, user_id=user_id, bits=bits), "sitekey": settings.TURNSTILE_SITE_KEY}

    def proof_holds(self, *, proof: Proof, bits: int, address: str) -> bool:
        form = {"secret": settings.TURNSTILE_SECRET_KEY, "response": proof.nonce, "idempotency_key": proof.challenge}
        if address and address != "unknown":
            form["remoteip"] = address
        url = settings.TURNSTILE_VERIFY_URL
        if not url.startswith(("https://", "http://")):
            logger.error("TURNSTILE_VERIFY_URL is no http(s) URL; the join challenge fails")
            return False
        request = urllib.request.Request(  # noqa: S310 - an http(s) URL from the settings, checked above
            url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.TURNSTILE_TIMEOUT_SECONDS) as response:  # noqa: S310
                answer = json.loads(response.read(65536))
        except (OSError, urllib.error.URLError, ValueError):
            logger.warning("Turnstile siteverify did not answer; the join challenge fails")
            return False
        return isinstance(answer, dict) and answer.get("success") is True


@cache
def join_verifier() -> JoinVerifier:
    """The verifier the setting names (``JOIN_CHALLENGE_VERIFIER``)."""
    return import_string(settings.JOIN_CHALLENGE_VERIFIER)()
