"""The queue's wire messages: what one admission round or one change of the
sale tells every waiting page, encoded and decoded here and nowhere else.

A message goes once per round to every ASGI process (``queue_app.broadcast``)
and is decoded once per process (``queue_app.hub``), so it is JSON with
short keys; the code on both sides speaks in the dataclasses' names.

====  =================  ===========================================
key   field              meaning
====  =================  ===========================================
k     (kind)             ``round``, ``status``, ``replaced``, ``pre`` or ``drawn``
r     round              the round's number (consecutive per event)
st    status             the sale's public status
adm   admitted           user ids admitted in this round
until admitted_until     until when they are admitted (ISO 8601)
lapsed lapsed            user ids whose admission lapsed
absent absent            of those, who never reached the seat map (arrival window)
left  left               ``[ordinal, seq]`` of each departure since the last round
wt    waiting_total      people still waiting (``pre``: entries in the pre-queue)
rate  rate               measured admission rate (people/s)
sl    seats_left         free seats not yet spoken for
resync resync            the left log overflowed: every page reads its state again
ep    epoch              changes when the queue's keys were made anew (data lost)
c     connection         (``replaced``) the socket a newer one of the same person replaces
====  =================  ===========================================
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

ROUND, STATUS, REPLACED, PREQUEUE, DRAWN = "round", "status", "replaced", "pre", "drawn"


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True)
class StatusMessage:
    """The sale's public status changed (paused, resumed, closed, sold out)."""

    status: str

    def encode(self) -> str:
        return _dumps({"k": STATUS, "st": self.status})


@dataclass(frozen=True)
class ReplacedMessage:
    """The person opened a newer waiting-page socket: the process holding
    ``connection`` closes it (``queue_app.hub``)."""

    connection: str

    def encode(self) -> str:
        return _dumps({"k": REPLACED, "c": self.connection})


@dataclass(frozen=True)
class PrequeueMessage:
    """The pre-queue's entrants so far (the beat, every tick of the window)."""

    waiting_total: int

    def encode(self) -> str:
        return _dumps({"k": PREQUEUE, "wt": self.waiting_total})


@dataclass(frozen=True)
class DrawnMessage:
    """The draw placed every entry: each waiting page reads its place once."""

    def encode(self) -> str:
        return _dumps({"k": DRAWN})


@dataclass(frozen=True)
class RoundMessage:
    """One admission round of one event."""

    round: int
    status: str
    admitted: frozenset[int] = frozenset()
    admitted_until: str | None = None
    lapsed: frozenset[int] = frozenset()
    absent: frozenset[int] = frozenset()
    left: tuple[tuple[int, int], ...] = ()  # (ordinal, seq) of each departure
    waiting_total: int = 0
    rate: float | None = None
    seats_left: int | None = None
    resync: bool = False
    epoch: str | None = None
    _left_seqs: list[int] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_left_seqs", sorted(seq for _, seq in self.left))

    def encode(self) -> str:
        return _dumps(
            {
                "k": ROUND,
                "r": self.round,
                "st": self.status,
                "adm": sorted(self.admitted),
                "until": self.admitted_until,
                "lapsed": sorted(self.lapsed),
                "absent": sorted(self.absent),
                "left": [list(entry) for entry in self.left],
                "wt": self.waiting_total,
                "rate": self.rate,
                "sl": self.seats_left,
                "resync": self.resync,
                "ep": self.epoch,
            }
        )

    @property
    def admitted_count(self) -> int:
        return len(self.admitted)

    @cached_property
    def min_ordinal(self) -> int:
        return min((ordinal for ordinal, _ in self.left), default=0)

    def left_ahead(self, *, seq: int, known_leaves: int) -> int:
        """How many of this round's departures were ahead of ``seq`` and not
        yet counted in a rank read after departure number ``known_leaves``."""
        if not self.left:
            return 0
        if known_leaves < self.min_ordinal:
            return bisect.bisect_left(self._left_seqs, seq)
        return sum(1 for ordinal, s in self.left if ordinal > known_leaves and s < seq)

    def left_self(self, *, seq: int, known_leaves: int) -> bool:
        """True when the departure of ``seq`` is in this round and not yet counted."""
        return any(s == seq and ordinal > known_leaves for ordinal, s in self.left)


QueueMessage = RoundMessage | StatusMessage | PrequeueMessage | DrawnMessage
HubMessage = QueueMessage | ReplacedMessage


def message_decode(text: str) -> HubMessage:
    """The message a broadcast carries (anything but a round or a replacement is a status change)."""
    data: dict[str, Any] = json.loads(text)
    if data.get("k") == REPLACED:
        return ReplacedMessage(connection=str(data.get("c")))
    if data.get("k") == PREQUEUE:
        return PrequeueMessage(waiting_total=int(data.get("wt", 0)))
    if data.get("k") == DRAWN:
        return DrawnMessage()
    if data.get("k") != ROUND:
        return StatusMessage(status=data.get("st"))
    return RoundMessage(
        round=int(data["r"]),
        status=data.get("st"),
        admitted=frozenset(data.get("adm", [])),
        admitted_until=data.get("until"),
        lapsed=frozenset(data.get("lapsed", [])),
        absent=frozenset(data.get("absent", [])),
        left=tuple((int(ordinal), int(seq)) for ordinal, seq in data.get("left", [])),
        waiting_total=int(data.get("wt", 0)),
        rate=data.get("rate"),
        seats_left=data.get("sl"),
        resync=bool(data.get("resync")),
        epoch=data.get("ep"),
    )
