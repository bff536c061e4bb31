"""The pre-queue draw's rule, in one place: entry ids, the order key and
the check anyone can run on the public answers (API.md "Fair opening").

An event's secret seed is fixed when the event is made (``Event.draw_seed``),
before any entry; only its SHA-256 (the commitment) is public until the
draw. Each entry is a random id given at the person's first pre-queue join;
the draw's order is ascending ``sha256(seed || entry)`` in hex. The seed
cannot be chosen after the entries are known (its hash was public first)
and no entrant can aim for a place (the seed was secret until the draw).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

ALGORITHM = "sha256(seed||entry)"
#: Random bytes of an entry id (16 hex characters): no ``:``, fixed length, unguessable.
ENTRY_BYTES = 8


def draw_key(seed: bytes, entry: str) -> str:
    """The entry's place key: ascending keys are the drawn order."""
    return hashlib.sha256(seed + entry.encode("utf-8")).hexdigest()


def prequeue_value_new(seed: bytes) -> str:
    """A new entry as the pre-queue stores it: ``<draw key>:<entry id>``."""
    entry = secrets.token_hex(ENTRY_BYTES)
    return f"{draw_key(seed, entry)}:{entry}"


def draw_problems(draw: dict[str, Any], entries: Sequence[str]) -> list[str]:
    """What is wrong with a drawn draw's public answers (empty: it checks
    out): the seed against the commitment, the count, and the order."""
    seed = bytes.fromhex(draw["seed"])
    problems = []
    if hashlib.sha256(seed).hexdigest() != draw["commitment"]:
        problems.append("the seed's SHA-256 is not the commitment")
    if len(entries) != draw["entrants"]:
        problems.append(f"{len(entries)} entries listed for {draw['entrants']} entrants")
    if len(set(entries)) != len(entries):
        problems.append("an entry is listed twice")
    if sorted(entries, key=lambda entry: draw_key(seed, entry)) != list(entries):
        problems.append("the entries are not in ascending sha256(seed || entry) order")
    return problems
