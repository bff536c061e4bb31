"""Admission that follows the booking path's health (additive increase,
multiplicative decrease).

The organizer's batch is a ceiling. Each round compares two figures with
``ADMISSION_TARGET_P95_MS``: the p95 of hold and checkout durations over the
last ``CONTROL_WINDOW_SECONDS`` (kept in Redis by the web processes,
``reservations.health``; each duration includes its event loop's wait), and
the worst event-loop lag a web process published in the last seconds
(``core.loop_lag``: what a request arriving now would wait, known before the
slow requests finish). Either above the target cuts the effective batch in
proportion (to target/observed of it, at least halved; at most once a
window, so a cut is seen in the figures before the next); within half the
target, once enough requests say so, it grows by the floor below; between
half the target and the target, and with too few requests to judge, it
holds where it is.

A sale starts slow, as TCP does: the first round admits at most
``ADMISSION_START_BATCH`` and each healthy round doubles it until the first
cut, so an organizer's batch far past what the machine serves is not
admitted whole in the opening second, before any figure exists to judge it
by. While no figure has come back, a round admits only what the start
batch has room for beside the admitted who hold nothing yet
(``_blind_admit``). The batch never falls below a tenth of the smaller of
the start and the organizer's batch: a machine slow for reasons admission
cannot fix must not stall the queue.

The state lives in the event's queue meta hash, so every process and the
admin see the same figures. Commercial waiting rooms admit at a fixed rate
set by hand; this admits what the booking path can take.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from core.loop_lag import loop_lag_peak
from core.redis import get_redis
from queue_app.keys import meta_key
from reservations.health import booking_latency_p95

CONTROL_WINDOW_SECONDS = 3
#: Fewer requests than this in the window say nothing about the path's health.
MIN_SAMPLES = 20
#: A round grows only while the figures are within this share of the target
#: (between it and the target the batch holds): a band, as TCP Vegas keeps.
HEADROOM = 0.5


@dataclass(frozen=True)
class Control:
    """This round's effective batch and why."""

    batch: int
    reason: str
    p95_ms: float | None


def control_next(
    *,
    current: int,
    ceiling: int,
    p95_ms: float | None,
    samples: int,
    target_ms: float,
    cut_recently: bool,
    lag_ms: float | None = None,
    starting: bool = False,
    floor: int | None = None,
) -> tuple[int, str, bool]:
    """One AIMD step: (new batch, reason, whether this step cut). Never
    below ``floor`` (default: a tenth of the ceiling), which is also the
    additive step; ``starting`` (no cut yet this sale): a healthy round
    doubles instead."""
    floor = max(1, ceiling // 10 if floor is None else floor)
    slow, seen = None, 0.0
    if p95_ms is not None and samples >= MIN_SAMPLES and p95_ms > target_ms:
        slow, seen = f"booking p95 {p95_ms:.0f} ms > {target_ms:.0f} ms", p95_ms
    elif lag_ms is not None and lag_ms > target_ms:
        slow, seen = f"event-loop lag {lag_ms:.0f} ms > {target_ms:.0f} ms", lag_ms
    if slow is not None:
        if cut_recently or current <= floor:
            return current, f"{slow}: holding at {current}", False
        cut = max(floor, min(current // 2, int(current * target_ms / seen)))
        return cut, f"{slow}: cut to {cut}", True
    lag = "" if lag_ms is None else f", event-loop lag {lag_ms:.0f} ms"
    if p95_ms is None or samples < MIN_SAMPLES:
        # No evidence is not health: the last shoppers admitted may not have
        # reached the booking path yet. Growing now is how an opening second
        # overshoots.
        return current, f"too few requests to judge{lag}: holding at {current}", False
    health = f"booking p95 {p95_ms:.0f} ms{lag}"
    if max(p95_ms, lag_ms or 0.0) > target_ms * HEADROOM:
        # Near the target is no room to grow: what grows now overshoots
        # before its shoppers' requests show in the figures.
        return current, f"{health}: near the {target_ms:.0f} ms target, holding at {current}", False
    grown = min(ceiling, current * 2 if starting else current + floor)
    return grown, f"{health}: {'growing' if grown > current else 'at the organizer batch'}", False


def admission_batch_control(*, event_id: int, ceiling: int, unarrived: int = 0, now: float | None = None) -> Control:
    """The batch this round may admit, at most ``ceiling`` (the organizer's).
    ``unarrived``: admitted shoppers who hold nothing yet."""
    if not settings.ADMISSION_CONTROLLER:
        return Control(batch=ceiling, reason="controller off", p95_ms=None)
    now = time.time() if now is None else now
    redis = get_redis()
    current_raw, cut_at_raw = redis.hmget(meta_key(event_id), "ctl_batch", "ctl_cut_at")
    first = current_raw is None
    floor = max(1, min(ceiling, settings.ADMISSION_START_BATCH) // 10)
    current = min(ceiling, settings.ADMISSION_START_BATCH if first else int(current_raw))
    cut_recently = cut_at_raw is not None and now - float(cut_at_raw) < CONTROL_WINDOW_SECONDS
    p95, samples = booking_latency_p95(window_seconds=CONTROL_WINDOW_SECONDS, now=now)
    lag = loop_lag_peak(now=now)
    batch, reason, cut = control_next(
        current=current,
        ceiling=ceiling,
        p95_ms=p95,
        samples=samples,
        target_ms=settings.ADMISSION_TARGET_P95_MS,
        cut_recently=cut_recently,
        lag_ms=lag,
        starting=cut_at_raw is None,
        floor=floor,
    )
    admit = batch
    if first and not cut:
        batch, reason = current, f"first round of the sale: {current}"
        admit = batch
    elif not cut and (p95 is None or samples < MIN_SAMPLES):
        admit, reason = _blind_admit(batch=batch, ceiling=ceiling, unarrived=unarrived, floor=floor, reason=reason)
    state = {"ctl_batch": batch, "ctl_reason": reason, "ctl_p95": "" if p95 is None else p95}
    if cut:
        state["ctl_cut_at"] = now
    redis.hset(meta_key(event_id), mapping=state)
    return Control(batch=admit, reason=reason, p95_ms=p95)


def _blind_admit(*, batch: int, ceiling: int, unarrived: int, floor: int, reason: str) -> tuple[int, str]:
    """What a round admits while too few requests say how the path fares:
    at most ``ADMISSION_START_BATCH`` admitted shoppers who hold nothing yet,
    counting those already in (a window, as TCP's is while no acknowledgement
    comes back), and at least the floor. An organizer's batch within the
    start batch is admitted as it is: that much may always go in blind."""
    start = settings.ADMISSION_START_BATCH
    if ceiling <= start or not unarrived:
        return batch, reason
    admit = min(batch, max(floor, start - unarrived))
    return admit, f"{reason}; {unarrived} admitted not booking yet: admitting {admit}"


def admission_control_figures(*, event_id: int) -> tuple[int | None, str]:
    """(effective batch, why) as the last round left them, for the admin."""
    batch, reason = get_redis().hmget(meta_key(event_id), "ctl_batch", "ctl_reason")
    return (int(batch) if batch else None), (reason.decode() if reason else "no round yet")
