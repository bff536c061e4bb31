"""The pre-queue draw's rule, in one place: entry ids, the order key and
the check anyone can run on the public answers (API.md "Fair opening").

An event's secret seed is fixed when the event is made (``Event.draw_seed``),
before any entry; only its SHA-256 (the commitment) is public until the
draw. Each entry is a random id given at the person's first pre-queue join;
the draw's order is ascending ``sha256(seed || entry)`` in hex. The seed
cannot be chosen after the entries are known (its hash was public first)
and no entrant can aim for a place (the seed was secret until the draw).

In Redis an entry waits in the event's waiting set from its join on, at
its drawn place: its score is the first 52 bits of its key (``draw_score``),
exact in a double and below every later join's 2^52 + seq. Two entries
never share a score (the join refuses a taken one and a new entry is
made), so the waiting set's order is the full keys' order.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

ALGORITHM = "sha256(seed||entry)"
#: Random bytes of an entry id (16 hex characters): unguessable, short to keep.
ENTRY_BYTES = 8
#: Hex digits of the key that make an entry's score: 52 bits, exact in a double.
SCORE_DIGITS = 13


def draw_key(seed: bytes, entry: str) -> str:
    """The entry's place key: ascending keys are the drawn order."""
    return hashlib.sha256(seed + entry.encode("utf-8")).hexdigest()


def draw_score(seed: bytes, entry: str) -> int:
    """The entry's place in the waiting set: its key's first 52 bits."""
    return int(draw_key(seed, entry)[:SCORE_DIGITS], 16)


def draw_entry_new(seed: bytes) -> tuple[str, int]:
    """A new entry id and its score."""
    entry = secrets.token_hex(ENTRY_BYTES)
    return entry, draw_score(seed, entry)


def draw_order(seed: bytes, entries: Iterable[str]) -> list[str]:
    """The entries in drawn order."""
    return sorted(entries, key=lambda entry: draw_key(seed, entry))


def draw_entries_json(entries: Sequence[bytes]) -> bytes:
    """The public list as JSON, straight from the ids' bytes (hex: nothing to escape)."""
    return b'["' + b'","'.join(entries) + b'"]' if entries else b"[]"


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
    if draw_order(seed, entries) != list(entries):
        problems.append("the entries are not in ascending sha256(seed || entry) order")
    return problems
