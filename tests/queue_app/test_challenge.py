"""The join challenge (API.md "Join challenge"): a first join of an event with
``challenge_bits`` needs a single-use challenge, bound to the person and the
event, answered with a proof of work (or, by setting, a CAPTCHA provider's
check: Cloudflare Turnstile, tested against a local server speaking its
``siteverify`` protocol)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count

import pytest

from queue_app import challenge as challenge_module
from queue_app.challenge import Proof, TurnstileVerifier, join_verifier, zero_bits_lead

pytestmark = pytest.mark.django_db

BITS = 8


def _digest(challenge: str, nonce: int) -> bytes:
    return hashlib.sha256(f"{challenge}{nonce}".encode()).digest()


def _solve(challenge: str, bits: int) -> str:
    return str(next(n for n in count() if zero_bits_lead(_digest(challenge, n), bits)))


def _join(client, event, **body):
    return client.post(f"/api/events/{event.id}/queue/", body or None, format="json")


def _challenge(client, event):
    response = client.post(f"/api/events/{event.id}/queue/challenge/")
    assert response.status_code == 201, response.content
    return response.json()


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def test_a_first_join_needs_a_solved_challenge_and_a_rejoin_does_not(make_event, users, client_for):
    event = make_event(challenge_bits=BITS)
    client = client_for(users(1)[0])
    assert _error(_join(client, event)) == (403, "challenge_required")
    issued = _challenge(client, event)
    assert issued["difficulty"] == BITS and len(issued["challenge"]) >= 20 and issued["expires_at"]
    joined = _join(client, event, challenge=issued["challenge"], nonce=_solve(issued["challenge"], BITS))
    assert joined.status_code == 201 and joined.json()["state"] == "waiting"
    assert _join(client, event).status_code == 200  # already waiting: no challenge again


def test_a_challenge_is_single_use_and_a_wrong_answer_uses_it_up(make_event, users, client_for):
    event = make_event(challenge_bits=BITS)
    first, second = users(2)
    client = client_for(first)
    issued = _challenge(client, event)
    nonce = _solve(issued["challenge"], BITS)
    wrong = next(
        str(n)
        for n in count()
        if not zero_bits_lead(hashlib.sha256(f"{issued['challenge']}{n}".encode()).digest(), BITS)
    )
    assert _error(_join(client, event, challenge=issued["challenge"], nonce=wrong)) == (403, "challenge_failed")
    assert _error(_join(client, event, challenge=issued["challenge"], nonce=nonce)) == (403, "challenge_failed")

    again = _challenge(client, event)
    good = {"challenge": again["challenge"], "nonce": _solve(again["challenge"], BITS)}
    assert _join(client, event, **good).status_code == 201
    assert _error(_join(client_for(second), event, **good)) == (403, "challenge_failed")  # reused, by anyone


def test_a_challenge_is_bound_to_its_person_and_its_event(make_event, users, client_for):
    event, other_event = make_event(challenge_bits=BITS), make_event(challenge_bits=BITS)
    mine, theirs = users(2)
    issued = _challenge(client_for(mine), event)
    proof = {"challenge": issued["challenge"], "nonce": _solve(issued["challenge"], BITS)}
    assert _error(_join(client_for(theirs), event, **proof)) == (403, "challenge_failed")
    issued = _challenge(client_for(mine), event)
    proof = {"challenge": issued["challenge"], "nonce": _solve(issued["challenge"], BITS)}
    assert _error(_join(client_for(mine), other_event, **proof)) == (403, "challenge_failed")


def test_an_expired_or_made_up_challenge_fails(make_event, users, client_for, monkeypatch):
    monkeypatch.setattr(challenge_module, "CHALLENGE_SECONDS", 1)
    event = make_event(challenge_bits=BITS)
    client = client_for(users(1)[0])
    issued = _challenge(client, event)
    nonce = _solve(issued["challenge"], BITS)
    time.sleep(1.5)
    assert _error(_join(client, event, challenge=issued["challenge"], nonce=nonce)) == (403, "challenge_failed")
    assert _error(_join(client, event, challenge="made-up", nonce="0")) == (403, "challenge_failed")


@pytest.mark.parametrize(
    "body",
    [
        {"challenge": 12, "nonce": "1"},
        {"challenge": "x" * 5000, "nonce": "1"},
        {"challenge": "abc"},
        {"nonce": "abc"},
        {"challenge": ["a"], "nonce": {"b": 1}},
    ],
)
def test_a_malformed_answer_is_400_and_joins_nobody(make_event, users, client_for, body):
    event = make_event(challenge_bits=BITS)
    client = client_for(users(1)[0])
    assert _error(client.post(f"/api/events/{event.id}/queue/", body, format="json")) == (400, "invalid")
    assert client.get(f"/api/events/{event.id}/queue/").json()["state"] == "not_in_queue"


def test_an_event_without_a_challenge_issues_none(make_event, users, client_for):
    event = make_event()
    client = client_for(users(1)[0])
    assert _error(client.post(f"/api/events/{event.id}/queue/challenge/")) == (409, "invalid")
    assert _join(client, event).status_code == 201
    assert client.post("/api/events/999999/queue/challenge/").status_code == 404


def test_asking_for_challenges_is_limited_like_joins(make_event, users, client_for, settings):
    settings.RATE_LIMIT_JOIN = "3/m"
    event = make_event(challenge_bits=BITS)
    client = client_for(users(1)[0])
    for _ in range(3):
        _challenge(client, event)
    refused = client.post(f"/api/events/{event.id}/queue/challenge/")
    assert _error(refused) == (429, "rate_limited") and int(refused["Retry-After"]) > 0


def test_the_proof_is_one_hash_with_leading_zero_bits():
    assert zero_bits_lead(bytes([0, 0, 0b00001111]), 20)
    assert not zero_bits_lead(bytes([0, 0, 0b00010000]), 20)
    assert zero_bits_lead(bytes([0b01111111]), 1) and not zero_bits_lead(bytes([0b10000000]), 1)
    assert zero_bits_lead(bytes([5]), 0)


class _Siteverify(BaseHTTPRequestHandler):
    """Turnstile's siteverify as Cloudflare documents it: a form POST of
    secret, response and remoteip; JSON with success and error-codes."""

    seen: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.seen.append(form)
        ok = form.get("secret") == ["the-secret"] and form.get("response") == ["a-good-token"]
        body = json.dumps({"success": ok, "error-codes": [] if ok else ["invalid-input-response"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def siteverify(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Siteverify)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Siteverify.seen = []
    settings.JOIN_CHALLENGE_VERIFIER = "queue_app.challenge.TurnstileVerifier"
    settings.TURNSTILE_SECRET_KEY = "the-secret"
    settings.TURNSTILE_SITE_KEY = "the-site-key"
    settings.TURNSTILE_VERIFY_URL = f"http://127.0.0.1:{server.server_port}/turnstile/v0/siteverify"
    join_verifier.cache_clear()
    yield server
    server.shutdown()
    join_verifier.cache_clear()


def test_the_turnstile_adapter_checks_the_token_with_siteverify(siteverify, make_event, users, client_for):
    assert isinstance(join_verifier(), TurnstileVerifier)
    event = make_event(challenge_bits=1)
    first, second = users(2)
    issued = _challenge(client_for(first), event)
    assert issued["sitekey"] == "the-site-key"
    bad = _join(client_for(first), event, challenge=issued["challenge"], nonce="a-forged-token")
    assert _error(bad) == (403, "challenge_failed")
    issued = _challenge(client_for(first), event)
    assert _join(client_for(first), event, challenge=issued["challenge"], nonce="a-good-token").status_code == 201
    assert _Siteverify.seen[-1]["remoteip"] == ["127.0.0.1"] and _Siteverify.seen[-1]["secret"] == ["the-secret"]
    siteverify.shutdown()
    siteverify.server_close()  # the provider is down: the proof fails, nobody gets in unchecked
    issued = _challenge(client_for(second), event)
    down = _join(client_for(second), event, challenge=issued["challenge"], nonce="a-good-token")
    assert _error(down) == (403, "challenge_failed")


def test_the_verifier_consumes_the_challenge_before_asking_the_provider(siteverify, make_event, users):
    event = make_event(challenge_bits=1)
    (person,) = users(1)
    issued = join_verifier().issue(event_id=event.id, user_id=person.id, bits=1)
    proof = Proof(challenge=issued["challenge"], nonce="a-good-token")
    join_verifier().verify(event_id=event.id, user_id=person.id, bits=1, proof=proof, address="10.0.0.1")
    with pytest.raises(challenge_module.ChallengeFailed):
        join_verifier().verify(event_id=event.id, user_id=person.id, bits=1, proof=proof, address="10.0.0.1")
    assert len(_Siteverify.seen) == 1  # the replay never reached the provider
