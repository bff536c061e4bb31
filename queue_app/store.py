"""The queue in Redis: one Lua script per multi-key step, one round trip each.

Scripts are ``.lua`` files beside this module, loaded once per client with
``register_script`` (EVALSHA, re-sent only when Redis lost its script
cache). This is the only module that knows the key layout's semantics; the
services above it speak in users, positions and rounds.
"""

from __future__ import annotations

import json
import secrets
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import redis
import redis.asyncio as aredis
from redis.commands.core import AsyncScript, Script

from core.ratelimit import rate_window_start
from core.redis import get_async_redis, get_redis
from queue_app.draw import draw_entry_new
from queue_app.keys import (
    active_key,
    admitted_minutes_key,
    arrival_key,
    drawn_key,
    entries_key,
    idle_round_key,
    left_key,
    meta_key,
    rounds_key,
    seq_key,
    socket_key,
    waiting_key,
)

_HERE = Path(__file__).resolve().parent
LEFT_LOG_LIMIT = 10_000
RATE_EWMA_WEIGHT = 0.3


#: Scripts that may make the draw themselves: the shared draw function goes first.
_DRAW_STARTERS = frozenset({"queue_join", "draw_start", "admission_admit"})


@cache
def _source(name: str) -> str:
    source = (_HERE / f"{name}.lua").read_text()
    if name in _DRAW_STARTERS:
        source = (_HERE / "draw_start_fn.lua").read_text() + source
    return source


@cache
def _scripts(client: redis.Redis) -> dict[str, Script]:
    return {
        name: client.register_script(_source(name))
        for name in (
            "queue_join",
            "queue_state",
            "queue_leave",
            "admission_expire",
            "admission_admit",
            "admission_arrive",
            "draw_start",
        )
    }


def _script(name: str) -> Script:
    return _scripts(get_redis())[name]


def _str(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _float(value: bytes | str | None) -> float | None:
    return None if value in (None, b"", "") else float(value)


def _int(value: bytes | str | int | None, default: int = 0) -> int:
    return default if value in (None, b"", "") else int(value)


@dataclass(frozen=True)
class Prequeue:
    """What a join or a state read of an event with a pre-queue passes on."""

    opens: float  # the sale's opening (unix seconds): the pre-queue ends and the draw is due
    seed: bytes  # the draw's secret seed: a new entry's drawn place is made with it
    #: False only under the concurrency tests' debug switch: entries are taken
    #: by the clock alone, even after the draw (the race the draw's flag closes).
    closed_by_draw: bool = True

    @property
    def opens_arg(self) -> str:
        return repr(self.opens)


@dataclass(frozen=True)
class JoinResult:
    admitted_until: float | None  # set when already admitted
    rate_limited: bool = False
    rank: int = 0  # 0-based place in the waiting set
    waiting_total: int = 0  # with ``prequeue``: the entrants
    created: bool = False
    challenge_needed: bool = False  # a first join of an event that asks for a challenge, without one
    prequeue: bool = False  # an entry in the pre-queue, no place told yet
    entry: str | None = None  # the person's entry id, on an event with a pre-queue
    drew: bool = False  # this join made the draw (the first after the opening)
    score_taken: bool = False  # the new entry's drawn place was another's: try a new entry


@dataclass(frozen=True)
class StoredState:
    """One user's raw queue state plus the counters a consumer builds on."""

    state: str  # waiting | admitted | expired | not_in_queue
    rank: int | None
    waiting_total: int
    seq: int | None
    admitted_until: float | None
    round: int
    leaves: int
    rate: float | None
    seats_left: int | None
    sale_status: str | None  # public status seen by the last round
    epoch: str | None  # changes when the queue's keys are made anew (see admission_admit.lua)
    entry: str | None = None  # the person's pre-queue entry id, if any


@dataclass(frozen=True)
class RoundResult:
    round: int
    admitted: list[int]
    head_seq: int
    waiting_total: int
    admitted_total: int
    rate: float | None
    leaves: int
    left: list[tuple[int, int]] = field(default_factory=list)  # (ordinal, seq)
    overflow: bool = False
    seats_left: int | None = None
    epoch: str | None = None


@lru_cache(maxsize=1024)
def _join_keys(event_id: int) -> tuple[str, ...]:
    return (seq_key(event_id), waiting_key(event_id), active_key(event_id))


@lru_cache(maxsize=1024)
def _prequeue_keys(event_id: int) -> tuple[str, ...]:
    """The keys a join of an event with a pre-queue needs too (after the others)."""
    return (meta_key(event_id), entries_key(event_id), drawn_key(event_id))


def join_limit_key(event_id: int, user_id: int, window_start: int) -> str:
    """The user's join counter for one rate-limit window (in the event's slot)."""
    return f"q:{{{event_id}}}:rl:{user_id}:{window_start}"


def _entry(raw: bytes) -> str | None:
    return None if raw == b"-" else raw.decode()


def _parse_join(raw: bytes) -> JoinResult:
    parts = raw.split()
    kind = parts[0]
    if kind == b"r":
        return JoinResult(admitted_until=None, rate_limited=True)
    if kind == b"c":
        return JoinResult(admitted_until=None, challenge_needed=True)
    if kind == b"x":
        return JoinResult(admitted_until=None, score_taken=True)
    if kind == b"p":
        entrants, created = int(parts[2]), parts[3] == b"1"
        return JoinResult(
            admitted_until=None, prequeue=True, entry=parts[1].decode(), waiting_total=entrants, created=created
        )
    tagged = len(parts) == (4 if kind == b"a" else 6)  # with a pre-queue: the entry, and whether this join drew
    prequeue = {"entry": _entry(parts[-2]), "drew": parts[-1] == b"1"} if tagged else {}
    if kind == b"a":
        return JoinResult(admitted_until=float(parts[1]), **prequeue)
    return JoinResult(
        admitted_until=None, rank=int(parts[1]), waiting_total=int(parts[2]), created=parts[3] == b"1", **prequeue
    )


def _prequeue_args(prequeue: Prequeue | None) -> list:
    """The join's pre-queue arguments: the opening and a new entry (kept only if the person has none)."""
    if prequeue is None:
        return []
    entry, score = draw_entry_new(prequeue.seed)
    return [prequeue.opens_arg, score, entry, "1" if prequeue.closed_by_draw else "0"]


def _join_limited_keys(event_id: int, user_id: int, now: float, window: int, prequeue: bool) -> list[str]:
    keys = [*_join_keys(event_id), join_limit_key(event_id, user_id, rate_window_start(now, window))]
    return keys + list(_prequeue_keys(event_id)) if prequeue else keys


def store_join(
    *,
    event_id: int,
    user_id: int,
    now: float,
    limit: int,
    window: int,
    needs_challenge: bool = False,
    prequeue: Prequeue | None = None,
) -> JoinResult:
    """Join, counting the attempt against ``limit`` joins per ``window``
    seconds; with ``needs_challenge`` only someone already waiting or
    admitted gets in (the others: ``challenge_needed``). With ``prequeue``,
    a join before the draw is an entry at its drawn place, and the first
    join after the opening makes the draw if nobody has."""
    keys = _join_limited_keys(event_id, user_id, now, window, prequeue is not None)
    base = [user_id, now, limit, window, int(needs_challenge)]
    return _parse_join(_script("queue_join")(keys=keys, args=[*base, *_prequeue_args(prequeue)]))


def store_join_pipe(
    pipe: redis.client.Pipeline,
    *,
    event_id: int,
    user_ids: Iterable[int],
    now: float,
    prequeue: Prequeue | None = None,
) -> None:
    """Queue many joins on ``pipe``, one EVALSHA each, without the per-user
    limit (bulk loads and the benchmarks); each result parses with
    ``store_join_parse``. The pipeline loads the script first if Redis lost it."""
    script = _script("queue_join")
    pipe.scripts.add(script)
    evalsha, sha = pipe.evalsha, script.sha
    seq, waiting, active = _join_keys(event_id)
    moment = repr(now).encode()
    if prequeue is None:
        for user_id in user_ids:
            evalsha(sha, 3, seq, waiting, active, user_id, moment)
        return
    keys = (seq, waiting, active, *_prequeue_keys(event_id))
    for user_id in user_ids:
        evalsha(sha, 6, *keys, user_id, moment, "", "", "", *_prequeue_args(prequeue))


def store_join_parse(raw: bytes) -> JoinResult:
    return _parse_join(raw)


_STATES = {0: "waiting", 1: "admitted", 2: "expired", 3: "not_in_queue", 4: "pre_queue"}


def _parse_state(raw: bytes) -> StoredState:
    parts = [None if p == b"-" else p for p in raw.split()]
    code = int(parts[0])
    seats_left = _float(parts[7])
    return StoredState(
        state=_STATES[code],
        rank=int(parts[1]) if code == 0 else None,
        waiting_total=_int(parts[2]),
        seq=int(float(parts[3])) if code == 0 else None,
        admitted_until=float(parts[1]) if code == 1 else None,
        round=_int(parts[4]),
        leaves=_int(parts[5]),
        rate=_float(parts[6]),
        seats_left=None if seats_left is None else int(seats_left),
        sale_status=_str(parts[8]),
        epoch=_str(parts[9]),
        entry=_str(parts[10]) if len(parts) > 10 else None,
    )


@lru_cache(maxsize=1024)
def _state_keys(event_id: int, prequeue: bool = False) -> tuple[str, ...]:
    keys = (waiting_key(event_id), active_key(event_id), meta_key(event_id))
    return (*keys, entries_key(event_id)) if prequeue else keys


def _state_args(user_id: int, now: float, prequeue: Prequeue | None) -> list:
    return [user_id, now] if prequeue is None else [user_id, now, prequeue.opens_arg]


def store_state(*, event_id: int, user_id: int, now: float, prequeue: Prequeue | None = None) -> StoredState:
    keys = _state_keys(event_id, prequeue is not None)
    raw = _script("queue_state")(keys=keys, args=_state_args(user_id, now, prequeue))
    return _parse_state(raw)


def _leave(event_id: int, user_id: int, mode: str, prequeue: bool = False) -> int:
    keys = [waiting_key(event_id), active_key(event_id), meta_key(event_id), left_key(event_id), arrival_key(event_id)]
    if prequeue:
        keys += [entries_key(event_id), drawn_key(event_id)]
    return int(_script("queue_leave")(keys=keys, args=[user_id, LEFT_LOG_LIMIT, mode]))


def store_leave(*, event_id: int, user_id: int, prequeue: bool = False) -> int:
    """1: left the waiting set (with ``prequeue``, before the draw, the entry
    goes too), 2: ended an admission, 0: nothing to do."""
    return _leave(event_id, user_id, "leave", prequeue)


def store_admission_end(*, event_id: int, user_id: int) -> bool:
    """End an admission (the waiting set is left alone); True if there was one."""
    return _leave(event_id, user_id, "end") == 2


@dataclass(frozen=True)
class Expired:
    """What one round's expiry step found."""

    lapsed: list[int]  # admissions that ended now
    live: list[int]  # admissions still running
    absent: list[int]  # of the lapsed, those who never reached the seat map (the arrival window)


def store_expire(*, event_id: int, now: float) -> Expired:
    """Mark lapsed admissions ended; who lapsed, who is still admitted, who never arrived."""
    lapsed, live, absent = _script("admission_expire")(keys=[active_key(event_id), arrival_key(event_id)], args=[now])
    return Expired(lapsed=[int(u) for u in lapsed], live=[int(u) for u in live], absent=[int(u) for u in absent])


def store_arrive(*, event_id: int, user_id: int, now: float) -> float | None:
    """The admission check that is also the arrival (``admission_arrive.lua``):
    the admission's end while admitted (the full window from now on), else None."""
    return _float(_script("admission_arrive")(keys=[active_key(event_id), arrival_key(event_id)], args=[user_id, now]))


async def store_arrive_async(*, event_id: int, user_id: int, now: float) -> float | None:
    """``store_arrive`` for asyncio callers."""
    raw = await _async_script("admission_arrive")(
        keys=[active_key(event_id), arrival_key(event_id)], args=[user_id, now]
    )
    return _float(raw)


def store_admit(
    *,
    event_id: int,
    now: float,
    admitted_until: float,
    max_n: int,
    cap: int,
    interval: float,
    seats_left: int | None,
    status: str,
    full_until: float | None = None,
    prequeue: bool = False,
) -> RoundResult:
    """Run the admit step of one round; ``max_n < 0`` admits nobody. With
    ``full_until``, ``admitted_until`` is the arrival deadline and the full
    admission's end waits for the person's arrival (``store_arrive``). With
    ``prequeue``, the round makes the event's draw first if nobody has."""
    keys = [waiting_key(event_id), active_key(event_id), meta_key(event_id), left_key(event_id), arrival_key(event_id)]
    if prequeue:
        keys.append(entries_key(event_id))
    seats = "" if seats_left is None else seats_left
    full = "" if full_until is None else full_until
    args = [now, admitted_until, max_n, cap, interval, RATE_EWMA_WEIGHT, seats, status, secrets.token_hex(8), full]
    raw = _script("admission_admit")(keys=keys, args=args)
    left = []
    for entry in raw[7]:
        ordinal, _, seq = entry.partition(b":")
        left.append((int(ordinal), int(float(seq))))
    seats = _float(raw[9])
    return RoundResult(
        round=int(raw[0]),
        admitted=[int(u) for u in raw[1].split(b",")] if raw[1] else [],
        head_seq=int(float(raw[2])) if raw[2] else 0,
        waiting_total=int(raw[3]),
        admitted_total=int(raw[4]),
        rate=_float(raw[5]),
        leaves=_int(raw[6]),
        left=left,
        overflow=bool(raw[8]),
        seats_left=None if seats is None else int(seats),
        epoch=_str(raw[10]),
    )


@dataclass(frozen=True)
class DrawStart:
    drew: bool  # this call made the draw
    at: float  # when the draw was made (unix seconds)
    entrants: int


def store_draw_start(*, event_id: int, now: float, once: bool = True) -> DrawStart:
    """Make the event's draw unless it is made (``once=False``: the
    concurrency tests' debug switch, make it again regardless)."""
    keys = [meta_key(event_id), entries_key(event_id)]
    drew, at, entrants = _script("draw_start")(keys=keys, args=[now, int(once)])
    return DrawStart(drew=bool(drew), at=float(at), entrants=int(entrants))


def store_draw_made(*, event_id: int) -> DrawStart | None:
    """The draw, if it is made (a plain read)."""
    at, entrants = get_redis().hmget(meta_key(event_id), "draw_at", "draw_n")
    return None if at is None else DrawStart(drew=False, at=float(at), entrants=int(entrants))


#: Entries read per step: each step holds Redis for a few milliseconds only.
DRAWN_READ_STEP = 5_000


def store_draw_entries(*, event_id: int) -> list[bytes]:
    """Every entry id of the event's pre-queue in drawn order (after the draw: final)."""
    client, key = get_redis(), drawn_key(event_id)
    entries: list[bytes] = []
    while True:
        step = client.zrange(key, len(entries), len(entries) + DRAWN_READ_STEP - 1)
        entries += step
        if len(step) < DRAWN_READ_STEP:
            return entries


def store_draw_entries_drop(*, event_id: int) -> None:
    """Free the drawn list once the draw's record keeps it."""
    get_redis().unlink(drawn_key(event_id))


def store_prequeue_total(*, event_id: int) -> int:
    """How many entries the pre-queue holds."""
    return int(get_redis().hlen(entries_key(event_id)))


def store_figures(*, event_id: int, now: float) -> tuple[int, int, float | None]:
    """(waiting, admitted now, measured rate) for the admin."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.zcard(waiting_key(event_id))
    pipe.zcount(active_key(event_id), f"({now}", "+inf")
    pipe.hget(meta_key(event_id), "rate")
    waiting, admitted, rate = pipe.execute()
    return int(waiting), int(admitted), _float(rate)


#: Rounds kept (at least a minute of them at one round a second, beat's
#: default tick: the dashboard counts the last minute's admissions from them);
#: minutes of admission counts the dashboard charts (and keeps).
ROUND_LOG_LENGTH = 200
ADMITTED_MINUTES_KEPT = 180


def store_round_record(*, event_id: int, now: float, entry: dict, admitted: int) -> None:
    """Keep a round for the organizer's dashboard: in the list of the last
    rounds, and its admissions in the count of its minute. One round trip;
    the minute that falls out of the window is dropped, and the whole hash
    expires after a quiet window."""
    minute = int(now // 60)
    pipe = get_redis().pipeline(transaction=False)
    pipe.lpush(rounds_key(event_id), json.dumps(entry, separators=(",", ":")))
    pipe.ltrim(rounds_key(event_id), 0, ROUND_LOG_LENGTH - 1)
    if admitted:
        pipe.hincrby(admitted_minutes_key(event_id), str(minute), admitted)
        pipe.hdel(admitted_minutes_key(event_id), str(minute - ADMITTED_MINUTES_KEPT))
        pipe.expire(admitted_minutes_key(event_id), ADMITTED_MINUTES_KEPT * 60)
    pipe.execute()


def store_round_log(*, event_id: int) -> tuple[list[dict], dict[int, int]]:
    """(the last rounds, newest first; admissions by unix minute) for the dashboard."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.lrange(rounds_key(event_id), 0, ROUND_LOG_LENGTH - 1)
    pipe.hgetall(admitted_minutes_key(event_id))
    rounds, minutes = pipe.execute()
    return [json.loads(r) for r in rounds], {int(m): int(n) for m, n in minutes.items()}


def store_events_due(*, event_ids: list[int], idle_seconds: float) -> set[int]:
    """The events whose round runs this tick: each with anyone waiting or
    admitted (a lapsed admission too, until a round ends it and tells the
    person); an idle event at most once every ``idle_seconds``. A pre-queue
    before its draw is idle here: its draw has its own task (``draws_run``).
    One round trip for all events."""
    pipe = get_redis().pipeline(transaction=False)
    for event_id in event_ids:
        pipe.exists(waiting_key(event_id))
        pipe.zcount(active_key(event_id), "(0", "+inf")  # an ended admission (0) stays, for its reader
        pipe.set(idle_round_key(event_id), 1, px=max(1, int(idle_seconds * 1000)), nx=True)
    replies = pipe.execute()
    return {event_id for i, event_id in enumerate(event_ids) if any(replies[3 * i : 3 * i + 3])}


def store_depths(*, event_ids: list[int], now: float) -> dict[int, tuple[int, int]]:
    """(waiting, admitted now) of each event, two commands per event in one
    round trip: the queue gauges, read when Prometheus scrapes."""
    pipe = get_redis().pipeline(transaction=False)
    for event_id in event_ids:
        pipe.zcard(waiting_key(event_id))
        pipe.zcount(active_key(event_id), f"({now}", "+inf")
    counts = pipe.execute()
    return {event_id: (int(counts[2 * i]), int(counts[2 * i + 1])) for i, event_id in enumerate(event_ids)}


# -- asyncio side (queue fast path, WebSocket consumers) -------------------

_async_scripts: weakref.WeakKeyDictionary[aredis.Redis, dict[str, AsyncScript]] = weakref.WeakKeyDictionary()


def _async_script(name: str) -> AsyncScript:
    client = get_async_redis()
    scripts = _async_scripts.get(client)
    if scripts is None:
        scripts = _async_scripts[client] = {
            n: client.register_script(_source(n))
            for n in ("queue_join", "queue_state", "socket_release", "admission_arrive")
        }
    return scripts[name]


async def store_join_async(
    *,
    event_id: int,
    user_id: int,
    now: float,
    limit: int,
    window: int,
    needs_challenge: bool = False,
    prequeue: Prequeue | None = None,
) -> JoinResult:
    """``store_join`` for asyncio callers (same script, same keys)."""
    raw = await _async_script("queue_join")(
        keys=_join_limited_keys(event_id, user_id, now, window, prequeue is not None),
        args=[user_id, now, limit, window, int(needs_challenge), *_prequeue_args(prequeue)],
    )
    return _parse_join(raw)


async def store_state_async(
    *, event_id: int, user_id: int, now: float, prequeue: Prequeue | None = None
) -> StoredState:
    keys = _state_keys(event_id, prequeue is not None)
    raw = await _async_script("queue_state")(keys=keys, args=_state_args(user_id, now, prequeue))
    return _parse_state(raw)


@dataclass(frozen=True)
class RoundCounters:
    """Where an event's rounds are: what a listener compares its sockets with after a silence."""

    round: int
    epoch: str | None


async def store_round_counters_async(*, event_id: int) -> RoundCounters:
    """The last round's number and the keys' epoch (one ``HMGET``)."""
    number, epoch = await get_async_redis().hmget(meta_key(event_id), "round", "epoch")
    return RoundCounters(round=_int(number), epoch=_str(epoch))


#: A socket claim outlives any on-sale; a claim left by a process that died is replaced by the next socket.
SOCKET_CLAIM_SECONDS = 24 * 3600


async def store_socket_claim_async(*, event_id: int, user_id: int, connection: str) -> str | None:
    """Make ``connection`` the user's one waiting-page socket on the event;
    the connection id it replaces, if any (one ``SET ... GET``)."""
    old = await get_async_redis().set(socket_key(event_id, user_id), connection, ex=SOCKET_CLAIM_SECONDS, get=True)
    return old.decode() if isinstance(old, bytes) else old


async def store_socket_release_async(*, event_id: int, user_id: int, connection: str) -> None:
    """Forget the claim when the socket closes, unless a newer socket holds it."""
    await _async_script("socket_release")(keys=[socket_key(event_id, user_id)], args=[connection])
