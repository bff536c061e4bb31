"""The waiting queue's operations: join, read, leave, the admission round,
and the organizer's pause/resume switch.

Redis holds the queue (``queue_app.store``); PostgreSQL holds the event and
its seats. An admission round is the one place that decides who gets in.
"""

from __future__ import annotations

import gzip
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from core.ratelimit import parse_rate, rate_limit_check, rate_limit_check_async, rate_limited_raise
from core.redis import get_redis
from queue_app import store
from queue_app.broadcast import queue_broadcast, queue_status_announce
from queue_app.challenge import ChallengeRequired, Proof, join_verifier
from queue_app.controller import Control, admission_batch_control
from queue_app.draw import draw_entries_json
from queue_app.keys import draw_lock_key, round_lock_key
from queue_app.messages import DrawnMessage, PrequeueMessage, RoundMessage
from queue_app.metrics import admitted_total
from queue_app.selectors import (
    SaleSnapshot,
    admission_seat_budget,
    event_sale_snapshot,
    event_sale_snapshot_async,
    event_sale_snapshot_forget,
    queue_events_live,
)
from reservations.errors import event_not_found
from reservations.models import Draw, Event
from reservations.selectors import event_seat_counts

MIN_RATE = 0.01  # people/s: keeps an ETA finite while admission is blocked
#: The drawn list is random hex: gzip's fastest level already halves it.
DRAW_GZIP_LEVEL = 1
#: Longest a draw's record may take (a million entries: a few seconds) before another runner may write it.
DRAW_RECORD_LOCK_SECONDS = 120

logger = logging.getLogger(__name__)

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1024)
def ws_path(event_id: int) -> str:
    """The waiting page's socket (cached: the join fast path names it in every answer)."""
    return reverse("ws-event-queue", urlconf="queue_app.routing", kwargs={"event_id": event_id})


@lru_cache(maxsize=1024)
def seat_page_path(event_id: int) -> str:
    return reverse("web:event-seats", kwargs={"event_id": event_id})


def timestamp_iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def queue_eta_seconds(*, position: int, rate: float | None, fallback_rate: float) -> int:
    """Position divided by the measured admission rate (batch/interval before
    there is history); never negative."""
    effective = fallback_rate if rate is None else rate
    return max(0, math.ceil(position / max(effective, MIN_RATE)))


def queue_likely_sold_out(*, position: int, seats_left: int | None) -> bool:
    """True when the people ahead already cover every seat still free."""
    return seats_left is not None and position - 1 >= seats_left


@dataclass(frozen=True)
class QueueState:
    """The contract's queue state (fields that do not apply are null). On an
    event with a pre-queue, ``entry`` is the person's entry id, when they
    have one; the ``pre_queue`` state has the contract's own fields."""

    state: str
    position: int | None
    waiting_total: int
    eta_seconds: int | None
    likely_sold_out: bool
    admitted_until: str | None
    ws: str
    entry: str | None = None
    opens_at: str | None = None

    def as_dict(self) -> dict:
        if self.state == "pre_queue":
            return {
                "state": self.state,
                "opens_at": self.opens_at,
                "waiting_total": self.waiting_total,
                "entry": self.entry,
                "ws": self.ws,
            }
        data = asdict(self)
        del data["opens_at"]
        if self.entry is None:
            del data["entry"]
        return data


def _waiting_state(
    snap: SaleSnapshot,
    *,
    rank: int,
    waiting_total: int,
    rate: float | None,
    seats_left: int | None,
    entry: str | None = None,
):
    position = rank + 1
    return QueueState(
        state="waiting",
        position=position,
        waiting_total=waiting_total,
        eta_seconds=queue_eta_seconds(position=position, rate=rate, fallback_rate=snap.fallback_rate),
        likely_sold_out=queue_likely_sold_out(position=position, seats_left=seats_left),
        admitted_until=None,
        ws=ws_path(snap.event_id),
        entry=entry,
    )


def _plain_state(
    snap: SaleSnapshot,
    state: str,
    *,
    waiting_total: int = 0,
    admitted_until: float | None = None,
    entry: str | None = None,
):
    return QueueState(
        state=state,
        position=None,
        waiting_total=waiting_total,
        eta_seconds=None,
        likely_sold_out=False,
        admitted_until=timestamp_iso(admitted_until),
        ws=ws_path(snap.event_id),
        entry=entry,
    )


def _prequeue_state(snap: SaleSnapshot, *, entrants: int, entry: str | None) -> QueueState:
    """In the pre-queue: an entry for the draw at the opening, no place yet."""
    return QueueState(
        state="pre_queue",
        position=None,
        waiting_total=entrants,
        eta_seconds=None,
        likely_sold_out=False,
        admitted_until=None,
        ws=ws_path(snap.event_id),
        entry=entry,
        opens_at=snap.sale_opens_at.isoformat(),
    )


def _found(snap: SaleSnapshot | None) -> SaleSnapshot:
    if snap is None:
        raise event_not_found()
    return snap


def _snapshot_or_404(event_id: int) -> SaleSnapshot:
    return _found(event_sale_snapshot(event_id=event_id))


def queue_event_require(*, event_id: int) -> None:
    """404 ``not_found`` unless the event exists (from the process's sale snapshot)."""
    _snapshot_or_404(event_id)


def _join_refusal_raise(snap: SaleSnapshot) -> None:
    """Refuse a join when the sale is not open, sold out or closed."""
    refusal = snap.join_refusal()
    if refusal is not None:
        raise refusal


#: A new entry whose drawn place (52 bits) is another entry's gets a new id
#: and tries again: at a million entries, about once in 10^10 joins.
ENTRY_TRIES = 3


def _join_prequeue(snap: SaleSnapshot) -> store.Prequeue | None:
    """The pre-queue arguments of a join (``QUEUE_DRAW_ONCE=False``, the
    concurrency tests' debug switch: entries taken by the clock alone)."""
    if snap.prequeue is not None and not settings.QUEUE_DRAW_ONCE:
        return replace(snap.prequeue, closed_by_draw=False)
    return snap.prequeue


def _join_outcome(snap: SaleSnapshot, joined: store.JoinResult, *, now: float, window: int) -> tuple[QueueState, bool]:
    if joined.rate_limited:
        rate_limited_raise(now=now, window=window)
    if joined.score_taken:
        raise ApplicationError("unavailable", _("The line is busy; try again shortly."), status_code=503, retry_after=1)
    if joined.challenge_needed:
        raise ChallengeRequired()
    if joined.prequeue:
        return _prequeue_state(snap, entrants=joined.waiting_total, entry=joined.entry), joined.created
    if joined.admitted_until is not None:
        return _plain_state(snap, "admitted", admitted_until=joined.admitted_until, entry=joined.entry), False
    state = _waiting_state(
        snap,
        rank=joined.rank,
        waiting_total=joined.waiting_total,
        rate=snap.rate,
        seats_left=snap.seats_left,
        entry=joined.entry,
    )
    return state, joined.created


def queue_challenge_issue(*, event_id: int, user_id: int) -> dict:
    """A new join challenge for the person (``queue_app.challenge``): 404 for
    no such event, 409 ``invalid`` when the event asks for none."""
    snap = _snapshot_or_404(event_id)
    if not snap.asks_challenge:
        raise Conflict("invalid", _("This sale asks for no challenge: join directly."))
    # Each challenge is a Redis key for two minutes: as many a person may ask for as joins.
    rate_limit_check(scope="queue_challenge", subject=user_id, setting="RATE_LIMIT_JOIN")
    issued = join_verifier().issue(event_id=event_id, user_id=user_id, bits=snap.challenge_bits)
    return {**issued, "expires_at": timestamp_iso(issued["expires_at"])}


def _challenge_check(snap: SaleSnapshot, *, user_id: int, proof: Proof | None, address: str) -> bool:
    """Whether the join must still show a challenge: False when the event asks
    for none or ``proof`` passed (consumed here); a wrong one raises 403."""
    if not snap.asks_challenge:
        return False
    if proof is None:
        return True
    join_verifier().verify(
        event_id=snap.event_id, user_id=user_id, bits=snap.challenge_bits, proof=proof, address=address
    )
    return False


def queue_join(
    *, event_id: int, user_id: int, proof: Proof | None = None, address: str = ""
) -> tuple[QueueState, bool]:
    """Join the event's queue (idempotent). Returns (state, newly joined).
    A first join of an event with a challenge needs ``proof``; someone
    already waiting or admitted joins again without one."""
    snap = _snapshot_or_404(event_id)
    _join_refusal_raise(snap)
    if not snap.queue_enabled:
        rate_limit_check(scope="queue_join", subject=user_id, setting="RATE_LIMIT_JOIN")
        return _plain_state(snap, "admitted"), False
    needs_challenge = _challenge_check(snap, user_id=user_id, proof=proof, address=address)
    # The per-user join limit (RATE_LIMIT_JOIN) is counted inside the join
    # script, per event: one Redis round trip for the whole join.
    limit, window = parse_rate(settings.RATE_LIMIT_JOIN)
    now = time.time()
    prequeue = _join_prequeue(snap)
    for _attempt in range(ENTRY_TRIES):
        joined = store.store_join(
            event_id=event_id,
            user_id=user_id,
            now=now,
            limit=limit,
            window=window,
            needs_challenge=needs_challenge,
            prequeue=prequeue,
        )
        if not joined.score_taken:
            break
    if joined.drew:
        draw_kick(event_id=event_id)
    return _join_outcome(snap, joined, now=now, window=window)


async def queue_join_async(*, event_id: int, user_id: int) -> tuple[QueueState, bool]:
    """``queue_join`` for asyncio callers (the HTTP fast path): same rules,
    no thread. It carries no proof (a join with a body goes to the view), so
    on an event with a challenge only someone already in line gets in here."""
    snap = _found(await event_sale_snapshot_async(event_id=event_id))
    _join_refusal_raise(snap)
    if not snap.queue_enabled:
        await rate_limit_check_async(scope="queue_join", subject=user_id, setting="RATE_LIMIT_JOIN")
        return _plain_state(snap, "admitted"), False
    limit, window = parse_rate(settings.RATE_LIMIT_JOIN)
    now = time.time()
    prequeue = _join_prequeue(snap)
    for _attempt in range(ENTRY_TRIES):
        joined = await store.store_join_async(
            event_id=event_id,
            user_id=user_id,
            now=now,
            limit=limit,
            window=window,
            needs_challenge=snap.asks_challenge,
            prequeue=prequeue,
        )
        if not joined.score_taken:
            break
    if joined.drew:
        await sync_to_async(draw_kick, thread_sensitive=False)(event_id=event_id)
    return _join_outcome(snap, joined, now=now, window=window)


def _sale_status(snap: SaleSnapshot, stored: store.StoredState) -> str:
    """The sale's public status for a state read: the snapshot's, unless the
    last round already saw the sale end (before this process's snapshot did)."""
    if stored.sale_status in (Event.PublicStatus.SOLD_OUT, Event.PublicStatus.CLOSED):
        return stored.sale_status
    return snap.public_status()


def _state_outcome(snap: SaleSnapshot, stored: store.StoredState) -> QueueState:
    public = _sale_status(snap, stored)
    if public in (Event.PublicStatus.SOLD_OUT, Event.PublicStatus.CLOSED):
        return _plain_state(snap, public, waiting_total=stored.waiting_total, entry=stored.entry)
    if stored.state == "pre_queue":
        return _prequeue_state(snap, entrants=stored.waiting_total, entry=stored.entry)
    if stored.state == "waiting":
        return _waiting_state(
            snap,
            rank=stored.rank,
            waiting_total=stored.waiting_total,
            rate=stored.rate,
            seats_left=stored.seats_left,
            entry=stored.entry,
        )
    return _plain_state(
        snap,
        stored.state,
        waiting_total=stored.waiting_total,
        admitted_until=stored.admitted_until,
        entry=stored.entry,
    )


def queue_state_get(*, event_id: int, user_id: int) -> QueueState:
    """The user's queue state now (the WebSocket's fallback for polling)."""
    snap = _snapshot_or_404(event_id)
    if not snap.queue_enabled:
        return _plain_state(snap, "admitted")
    stored = store.store_state(event_id=event_id, user_id=user_id, now=time.time(), prequeue=snap.prequeue)
    return _state_outcome(snap, stored)


async def queue_state_get_async(*, event_id: int, user_id: int) -> QueueState:
    """``queue_state_get`` for asyncio callers."""
    snap = _found(await event_sale_snapshot_async(event_id=event_id))
    if not snap.queue_enabled:
        return _plain_state(snap, "admitted")
    stored = await store.store_state_async(event_id=event_id, user_id=user_id, now=time.time(), prequeue=snap.prequeue)
    return _state_outcome(snap, stored)


@dataclass(frozen=True)
class FollowedState:
    """What a waiting page's socket builds on: the stored counters (rank,
    sequence number, round, departures) and the sale status that a state
    read over HTTP would report."""

    stored: store.StoredState
    sale_status: str


async def queue_state_follow_async(*, event_id: int, user_id: int) -> FollowedState:
    """The user's queue state for the WebSocket consumer (same rules as ``queue_state_get``)."""
    snap = _found(await event_sale_snapshot_async(event_id=event_id))
    stored = await store.store_state_async(event_id=event_id, user_id=user_id, now=time.time(), prequeue=snap.prequeue)
    return FollowedState(stored=stored, sale_status=_sale_status(snap, stored))


def queue_leave(*, event_id: int, user_id: int) -> None:
    """Leave the queue, or give up an admission: the place is free at once.
    An entry in the pre-queue leaves the draw."""
    snap = _snapshot_or_404(event_id)
    store.store_leave(event_id=event_id, user_id=user_id, prequeue=snap.prequeue is not None)


@dataclass(frozen=True)
class RoundOutcome:
    status: str
    lapsed: list[int]
    result: store.RoundResult


def admission_window(*, event: Event, now: float) -> tuple[float, float | None]:
    """(the end of an admission given now, the full window's end when it waits
    for the person's arrival). Seats go to people who show up: an admitted
    person has ``arrival_seconds`` to open the seat map or hold a seat (the
    booking side's admission check, ``queue_app.admission``), and only then
    gets the rest of ``admission_seconds``; who never arrives frees the place
    for the next round."""
    full = now + event.admission_seconds
    if event.arrival_seconds and event.arrival_seconds < event.admission_seconds:
        return now + event.arrival_seconds, full
    return full, None


def admission_round_run(*, event: Event, now: float | None = None) -> RoundOutcome | None:
    """One admission round of one event; None when another round of the
    event is still running.

    Drops lapsed admissions, then, if the sale is on and the event's interval
    has passed, admits ``min(batch, cap - admitted, seats left)`` people from
    the head of the queue, where seats left = free seats minus one for every
    admitted shopper who holds none yet. Ends with one broadcast.
    """
    lock = get_redis().lock(round_lock_key(event.id), timeout=30, blocking=False)
    if not lock.acquire():
        return None
    try:
        now = time.time() if now is None else now
        moment = datetime.fromtimestamp(now, UTC)
        expired = store.store_expire(event_id=event.id, now=now)
        counts = event_seat_counts(event_ids=[event.id], now=moment)[event.id]
        status = event.public_status(seats_unsold=counts.unsold, now=moment)
        budget = admission_seat_budget(event_id=event.id, admitted_ids=expired.live, now=moment)
        admitting = status == Event.PublicStatus.ON_SALE
        control = (
            admission_batch_control(
                event_id=event.id,
                ceiling=event.admission_batch_size,
                unarrived=budget.admitted_without_hold,
                now=now,
            )
            if admitting
            else Control(batch=0, reason=f"sale {status}", p95_ms=None)
        )
        admitted_until, full_until = admission_window(event=event, now=now)
        result = store.store_admit(
            event_id=event.id,
            now=now,
            admitted_until=admitted_until,
            max_n=min(control.batch, budget.seats_left) if admitting else -1,
            cap=event.admission_cap,
            interval=event.admission_interval_seconds,
            seats_left=budget.seats_left,
            status=status,
            full_until=full_until,
            prequeue=event.prequeue_opens_at is not None and now >= event.sale_opens_at.timestamp(),
        )
        if result.admitted:
            admitted_total.labels(str(event.id)).inc(len(result.admitted))
            logger.info(
                "round %d admitted %d, %d waiting",
                result.round,
                len(result.admitted),
                result.waiting_total,
                extra={"event_id": event.id},
            )
        rate = result.rate if result.rate is not None else event.admission_batch_size / event.admission_interval_seconds
        message = RoundMessage(
            round=result.round,
            status=status,
            admitted=frozenset(result.admitted),
            admitted_until=timestamp_iso(admitted_until),
            lapsed=frozenset(expired.lapsed),
            absent=frozenset(expired.absent),
            left=tuple(result.left),
            waiting_total=result.waiting_total,
            rate=rate,
            seats_left=result.seats_left,
            resync=result.overflow,
            epoch=result.epoch,
        )
        queue_broadcast(event_id=event.id, message=message)
        if result.admitted or expired.lapsed or expired.absent:
            _round_record(event_id=event.id, now=now, result=result, expired=expired, control=control, status=status)
        return RoundOutcome(status=status, lapsed=expired.lapsed, result=result)
    finally:
        lock.release()


def _round_record(
    *, event_id: int, now: float, result: store.RoundResult, expired: store.Expired, control: Control, status: str
) -> None:
    """What the organizer's dashboard lists of a round that changed who is in."""
    entry = {
        "round": result.round,
        "at": timestamp_iso(now),
        "status": status,
        "admitted": len(result.admitted),
        "lapsed": len(expired.lapsed),
        "absent": len(expired.absent),
        "waiting": result.waiting_total,
        "admitted_now": result.admitted_total,
        "batch": control.batch,
        "reason": control.reason,
    }
    store.store_round_record(event_id=event_id, now=now, entry=entry, admitted=len(result.admitted))


def admission_rounds_run() -> int:
    """Run a round for every queued event whose sale is open (or just
    closed, so its waiting page hears it) and that has someone in its queue,
    or has had none for ``ADMISSION_IDLE_ROUND_SECONDS``. Returns the number
    of rounds.

    An idle event's round is rare because sold-out events stay on sale (a
    return or a refund reopens them) and a platform has many on sale: a
    round of each every second (seat counts, a broadcast) was most of the
    Celery worker's time. A return of seats runs the event's round at once
    (``queue_app.receivers``)."""
    events = list(queue_events_live(now=timezone.now()))
    idle = settings.ADMISSION_IDLE_ROUND_SECONDS
    due = store.store_events_due(event_ids=[e.id for e in events], idle_seconds=idle) if events else set()
    return sum(1 for event in events if event.id in due and admission_round_run(event=event) is not None)


def _status_change(*, event_id: int, status: str) -> bool:
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            raise event_not_found()
        if event.status == status:
            return False
        event.status = status
        event.save(update_fields=["status", "updated_at"])
        transaction.on_commit(lambda: event_status_announce(event_id=event_id))
    return True


def event_sale_pause(*, event_id: int) -> bool:
    """Pause the sale: the queue keeps its order but admits nobody."""
    return _status_change(event_id=event_id, status=Event.Status.PAUSED)


def event_sale_resume(*, event_id: int) -> bool:
    """Resume a paused sale: admission rounds pick up at once."""
    return _status_change(event_id=event_id, status=Event.Status.ON_SALE)


def event_sale_close(*, event_id: int) -> bool:
    """Close the sale for good (the organizer may reopen it by setting the
    status back): the waiting page says so, joins and holds are refused."""
    return _status_change(event_id=event_id, status=Event.Status.CLOSED)


@dataclass(frozen=True)
class DrawOutcome:
    entrants: int
    recorded: bool  # this call wrote the draw's public record (exactly one call does)


def _draw_start(*, event_id: int, now: float) -> bool:
    """Make the draw unless it is made: one atomic step in Redis
    (``draw_start.lua``) that closes the pre-queue. ``QUEUE_DRAW_ONCE=False``
    is the concurrency tests' debug switch: a check, a pause, then the draw
    regardless (and joins take entries by the clock alone), the races the
    atomic step closes."""
    if settings.QUEUE_DRAW_ONCE:
        return store.store_draw_start(event_id=event_id, now=now).drew
    if store.store_draw_made(event_id=event_id) is not None:
        return False
    time.sleep(settings.QUEUE_DRAW_RACE_PAUSE_SECONDS)
    return store.store_draw_start(event_id=event_id, now=now, once=False).drew


def _draw_record(*, event: Event) -> DrawOutcome | None:
    """Write the draw's public record once: every entry in drawn order (the
    drawn set's order, which is the waiting set's), kept gzipped. The draw
    closed the pre-queue, so the entries are final; None when another runner
    is writing it now."""
    lock = get_redis().lock(draw_lock_key(event.id), timeout=DRAW_RECORD_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return None
    try:
        made = store.store_draw_made(event_id=event.id)
        order = store.store_draw_entries(event_id=event.id)
        if made is None or len(order) != made.entrants:
            logger.error("draw of event %s: the drawn entries are not the draw's (Redis lost data?)", event.id)
            return None
        _, created = Draw.objects.get_or_create(
            event_id=event.id,
            defaults={
                "drawn_at": datetime.fromtimestamp(made.at, UTC),
                "entrants": len(order),
                "entries": gzip.compress(draw_entries_json(order), compresslevel=DRAW_GZIP_LEVEL, mtime=0),
            },
        )
    finally:
        lock.release()
    if created:
        store.store_draw_entries_drop(event_id=event.id)
        event_sale_snapshot_forget(event_id=event.id)
        queue_broadcast(event_id=event.id, message=DrawnMessage())
    return DrawOutcome(entrants=len(order), recorded=created)


def draw_run(*, event: Event, now: float | None = None) -> DrawOutcome | None:
    """Make the event's draw once its sale has opened (at most once, whoever
    asks first: the beat, the task the first join kicked, that join itself
    or the first admission round), then record it. None when the event has
    no pre-queue, its sale has not opened, or the draw is recorded."""
    if event.prequeue_opens_at is None:
        return None
    now = time.time() if now is None else now
    if now < event.sale_opens_at.timestamp() or Draw.objects.filter(event_id=event.id).exists():
        return None
    _draw_start(event_id=event.id, now=now)
    return _draw_record(event=event)


def draw_kicked_run(*, event_id: int) -> bool:
    """``draw_run`` for the task a join kicked (it names the event only). True if it made the draw."""
    event = Event.objects.filter(pk=event_id).first()
    return event is not None and draw_run(event=event) is not None


def draws_run() -> int:
    """Beat, about every second: tell each open pre-queue's waiting pages how
    many have entered; make and record each draw that is due. Returns the
    draws this call recorded."""
    now = timezone.now()
    events = Event.objects.filter(
        prequeue_opens_at__lte=now,
        queue_enabled=True,
        status__in=[Event.Status.ON_SALE, Event.Status.PAUSED],
        draw__isnull=True,
    )
    made = 0
    for event in events:
        if now < event.sale_opens_at:
            entrants = store.store_prequeue_total(event_id=event.id)
            queue_broadcast(event_id=event.id, message=PrequeueMessage(waiting_total=entrants))
        else:
            outcome = draw_run(event=event)
            made += outcome is not None and outcome.recorded
    return made


def draw_kick(*, event_id: int) -> None:
    """Ask a worker to make the draw now (the first join after the opening
    started it): the beat would within a second. A broker that is down is
    logged, not raised; the beat makes the draw."""
    from queue_app.tasks import draw_run as task

    try:
        task.delay(event_id)
    except Exception:  # noqa: BLE001 - any broker failure: the beat's next tick makes the draw
        logger.warning("draw of event %s not queued (broker down?); the beat makes it", event_id)


def event_status_announce(*, event_id: int) -> None:
    """Broadcast the event's public status now (after a committed change)."""
    event_sale_snapshot_forget(event_id=event_id)
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return
    counts = event_seat_counts(event_ids=[event_id])[event_id]
    queue_status_announce(event_id=event_id, status=event.public_status(seats_unsold=counts.unsold))
