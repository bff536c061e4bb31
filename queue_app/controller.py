"""Admission that follows the booking path's health (additive increase,
multiplicative decrease).

The organizer's batch is a ceiling. Each round compares two figures with
``ADMISSION_TARGET_P95_MS``: the p95 of hold and checkout durations over the
last ``CONTROL_WINDOW_SECONDS`` (kept in Redis by the web processes,
``reservations.health``; each duration includes its event loop's wait), and
the worst event-loop lag a web process published in the last seconds
(``core.loop_lag``: what a request arriving now would wait, known before the
slow requests finish). Either above the target halves the effective batch
(at most once a window, so a cut is seen in the figures before the next);
otherwise it grows by a tenth of the organizer's batch. The state lives in the event's
queue meta hash, so every process and the admin see the same figures.
Commercial waiting rooms admit at a fixed rate set by hand; this admits what
the booking path can take.
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
) -> tuple[int, str, bool]:
    """One AIMD step: (new batch, reason, whether this step cut). The batch
    never falls below a tenth of the ceiling: a machine slow for reasons
    admission cannot fix (another tenant, the sockets of the waiting page)
    must not stall the queue."""
    floor = max(1, ceiling // 10)
    slow = None
    if p95_ms is not None and samples >= MIN_SAMPLES and p95_ms > target_ms:
        slow = f"booking p95 {p95_ms:.0f} ms > {target_ms:.0f} ms"
    elif lag_ms is not None and lag_ms > target_ms:
        slow = f"event-loop lag {lag_ms:.0f} ms > {target_ms:.0f} ms"
    if slow is not None:
        if cut_recently or current <= floor:
            return current, f"{slow}: holding at {current}", False
        return max(floor, current // 2), f"{slow}: halved", True
    grown = min(ceiling, current + max(1, ceiling // 10))
    health = "too few requests to judge" if p95_ms is None or samples < MIN_SAMPLES else f"booking p95 {p95_ms:.0f} ms"
    if lag_ms is not None:
        health += f", event-loop lag {lag_ms:.0f} ms"
    return grown, f"{health}: {'growing' if grown > current else 'at the organizer batch'}", False


def admission_batch_control(*, event_id: int, ceiling: int, now: float | None = None) -> Control:
    """The batch this round may admit, at most ``ceiling`` (the organizer's)."""
    if not settings.ADMISSION_CONTROLLER:
        return Control(batch=ceiling, reason="controller off", p95_ms=None)
    now = time.time() if now is None else now
    redis = get_redis()
    current_raw, cut_at_raw = redis.hmget(meta_key(event_id), "ctl_batch", "ctl_cut_at")
    current = min(int(current_raw), ceiling) if current_raw else ceiling
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
    )
    state = {"ctl_batch": batch, "ctl_reason": reason, "ctl_p95": "" if p95 is None else p95}
    if cut:
        state["ctl_cut_at"] = now
    redis.hset(meta_key(event_id), mapping=state)
    return Control(batch=batch, reason=reason, p95_ms=p95)


def admission_control_figures(*, event_id: int) -> tuple[int | None, str]:
    """(effective batch, why) as the last round left them, for the admin."""
    batch, reason = get_redis().hmget(meta_key(event_id), "ctl_batch", "ctl_reason")
    return (int(batch) if batch else None), (reason.decode() if reason else "no round yet")
