"""Stadium-size seat maps: the layout built once, the statuses as one shared,
versioned snapshot.

A 50,000-seat map read whole costs 135 ms of server time and 5.7 MB per
viewer; 400 viewers refreshing every 5 s is 11 s of CPU a second. Two
lighter reads replace it on the seat page (API.md, "Stadium-size seat
maps"):

* **Layout** (``layout_get``): positions, grades and prices, which do not
  change during a sale, as JSON built once and kept gzipped in Redis, with
  a strong ``ETag`` (the SHA-256 of the JSON) and a ``version`` taken from
  it, so every process and a Redis restart agree on both. A price or seat
  change forgets it (``layout_forget``, from the receivers).
* **Status** (``status_get``): one character per seat in layout order
  (``a``/``h``/``s``), built by one SQL statement that applies the
  availability rule's SQL form (``booking_seat_free``: a lapsed hold reads
  ``a``). The snapshot lives in Redis and is rebuilt by one process at a
  time (a lock, single flight) when it is older than
  ``SEAT_STATUS_MAX_AGE_SECONDS``, or when a hold in it has lapsed since;
  readers in between share it, whatever their number. The version moves
  only when a status changed, and is a millisecond clock kept strictly
  growing, so it still grows after Redis loses its data. Each new version
  records which seats changed (a bounded history), so ``?since=`` answers
  304 or the short list of changes.

Versions move because statuses changed, found by comparing snapshots, not
because each write remembered to announce itself: a write path that forgets
cannot make the map wrong, only the history is blind to a change that was
undone within one rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from redis.exceptions import LockError

from core.pg import pg_fetchall, sync_db
from core.redis import get_async_redis, get_redis
from reservations.models import Seat

#: Seats whose change lists a version keeps; past it ``since`` gets the full form.
HISTORY_VERSIONS = 64
#: The history entries read first for a ``since`` (the rest only when it is older).
RECENT_VERSIONS = 8
#: How long a builder may hold the lock before another may take over.
BUILD_LOCK_MS = 5000
#: A reader with no snapshot at all waits this long for another's build before building itself.
FIRST_BUILD_WAIT_SECONDS = 2.0
STATUS_WORDS = {"a": Seat.Status.AVAILABLE.value, "h": Seat.Status.HELD.value, "s": Seat.Status.SOLD.value}
LAYOUT_FIELDS = ("id", "section", "row", "number", "grade", "price")

_STATUS_SQL = """
SELECT coalesce(string_agg(
           CASE WHEN booking_seat_free(s.status, s.held_until, now()) THEN 'a'
                WHEN s.status = 'sold' THEN 's' ELSE 'h' END, '' ORDER BY s.id), ''),
       extract(epoch FROM min(s.held_until) FILTER (
           WHERE s.status = 'held' AND s.held_until > now()))::float8
FROM reservations_seat s WHERE s.event_id = %s
"""


def _layout_key(event_id: int) -> str:
    return f"seats:{{{event_id}}}:layout"


def _snapshot_key(event_id: int) -> str:
    return f"seats:{{{event_id}}}:status"


def _history_key(event_id: int) -> str:
    return f"seats:{{{event_id}}}:changes"


def _lock_key(event_id: int) -> str:
    return f"seats:{{{event_id}}}:build"


@dataclass(frozen=True)
class Layout:
    """The layout's JSON, gzipped, its tag and version, and the seat ids in order."""

    etag: str
    version: int
    gzipped: bytes
    seat_ids: tuple[int, ...]


def _layout_build(event_id: int) -> Layout:
    rows = list(
        Seat.objects.filter(event_id=event_id)
        .order_by("id")
        .values_list("id", "section", "row", "number", "grade__code", "grade__price")
    )
    seats = [dict(zip(LAYOUT_FIELDS, row, strict=True)) for row in rows]
    seats_json = json.dumps(seats, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(seats_json.encode()).hexdigest()
    version = int(digest[:12], 16)
    body = f'{{"version":{version},"seats":{seats_json}}}'.encode()
    return Layout(
        etag=f'"{digest}"',
        version=version,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        seat_ids=tuple(row[0] for row in rows),
    )


_layouts: dict[int, Layout] = {}


def _layout_current(event_id: int, stored_etag: bytes | None) -> Layout | None:
    """This process's copy of the layout, if Redis still holds its tag."""
    layout = _layouts.get(event_id)
    if layout is None or stored_etag is None or layout.etag != stored_etag.decode():
        return None
    return layout


def layout_get(*, event_id: int) -> Layout:
    """The event's layout: this process's copy while Redis holds the same
    tag (one ``HGET``), else Redis's, else built and stored."""
    client = get_redis()
    layout = _layout_current(event_id, client.hget(_layout_key(event_id), "etag"))
    if layout is not None:
        return layout
    stored = client.hmget(_layout_key(event_id), "etag", "version", "gzipped", "ids")
    if all(part is not None for part in stored):
        etag, version, gzipped, ids = stored
        ids_text = gzip.decompress(ids).decode()
        seat_ids = tuple(int(i) for i in ids_text.split(",")) if ids_text else ()
        layout = Layout(etag=etag.decode(), version=int(version), gzipped=gzipped, seat_ids=seat_ids)
    else:
        layout = _layout_build(event_id)
        ids = gzip.compress(",".join(map(str, layout.seat_ids)).encode(), mtime=0)
        client.hset(
            _layout_key(event_id),
            mapping={"etag": layout.etag, "version": layout.version, "gzipped": layout.gzipped, "ids": ids},
        )
    _layouts[event_id] = layout
    return layout


async def layout_get_async(*, event_id: int) -> Layout:
    """``layout_get`` on the event loop: this process's copy while Redis holds
    the same tag (one ``HGET``), else ``layout_get`` in a thread."""
    layout = _layout_current(event_id, await get_async_redis().hget(_layout_key(event_id), "etag"))
    if layout is not None:
        return layout
    return await sync_db(layout_get)(event_id=event_id)


#: Shared caches may keep the layout a minute and serve it stale while they revalidate.
LAYOUT_CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=300"


def layout_wire(layout: Layout, *, if_none_match: str, takes_gzip: bool) -> tuple[int, dict[str, str], bytes]:
    """The layout as both entry points (the view, the fast path) send it:
    status, headers, body; 304 when ``If-None-Match`` names its tag."""
    headers = {"ETag": layout.etag, "Cache-Control": LAYOUT_CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if layout.etag in (tag.strip() for tag in if_none_match.split(",")):
        return 304, headers, b""
    headers["Content-Type"] = "application/json"
    if takes_gzip:
        return 200, {**headers, "Content-Encoding": "gzip"}, layout.gzipped
    return 200, headers, gzip.decompress(layout.gzipped)


def layout_forget(*, event_id: int) -> None:
    """A seat or a price changed: the layout (and the statuses, whose order
    follows it) are built again on the next read, in every process (each
    checks the stored tag)."""
    _layouts.pop(event_id, None)
    get_redis().delete(_layout_key(event_id), _snapshot_key(event_id), _history_key(event_id))


@dataclass(frozen=True)
class Snapshot:
    version: int
    statuses: str
    built_at: float
    next_lapse: float | None
    full_gzipped: bytes


def _full_json(version: int, statuses: str) -> bytes:
    return f'{{"version":{version},"statuses":"{statuses}"}}'.encode()


async def _snapshot_read(event_id: int) -> Snapshot | None:
    version, statuses, built_at, next_lapse, full_gzipped = await get_async_redis().hmget(
        _snapshot_key(event_id), "version", "statuses", "built_at", "next_lapse", "full_gz"
    )
    if version is None or statuses is None or built_at is None or full_gzipped is None:
        return None
    return Snapshot(
        version=int(version),
        statuses=statuses.decode(),
        built_at=float(built_at),
        next_lapse=float(next_lapse) if next_lapse else None,
        full_gzipped=full_gzipped,
    )


def _fresh(snapshot: Snapshot, now: float) -> bool:
    """Young enough to share, and no hold in it has lapsed since it was built."""
    young = now - snapshot.built_at < settings.SEAT_STATUS_MAX_AGE_SECONDS
    return young and (snapshot.next_lapse is None or now < snapshot.next_lapse)


def _changed(before: str, after: str) -> list[int]:
    """Layout positions whose status differs between two status strings of one layout."""
    return [i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]


async def _build(event_id: int, previous: Snapshot | None) -> Snapshot:
    """Read the statuses; a new version (and its change list) only if one changed."""
    ((statuses, next_lapse),) = await pg_fetchall(_STATUS_SQL, [event_id])
    now = time.time()
    client = get_async_redis()
    if previous is not None and previous.statuses == statuses:
        version = previous.version
    else:
        version = max(int(now * 1000), (previous.version + 1) if previous else 0)
        pipe = client.pipeline(transaction=False)
        if previous is not None and len(previous.statuses) == len(statuses):
            changed = ",".join(f"{i}{statuses[i]}" for i in _changed(previous.statuses, statuses))
            pipe.lpush(_history_key(event_id), f"{previous.version}:{version}:{changed}")
            pipe.ltrim(_history_key(event_id), 0, HISTORY_VERSIONS - 1)
        else:
            pipe.delete(_history_key(event_id))  # the seats themselves changed: no diff spans it
        await pipe.execute()
    full_gzipped = gzip.compress(_full_json(version, statuses), compresslevel=6, mtime=0)
    snapshot = Snapshot(
        version=version, statuses=statuses, built_at=now, next_lapse=next_lapse, full_gzipped=full_gzipped
    )
    await client.hset(
        _snapshot_key(event_id),
        mapping={
            "version": version,
            "statuses": statuses,
            "built_at": now,
            "next_lapse": "" if next_lapse is None else next_lapse,
            "full_gz": full_gzipped,
            "count": len(statuses),
        },
    )
    return snapshot


async def snapshot_get_async(*, event_id: int) -> Snapshot:
    """The shared snapshot, rebuilt by one process when stale; the others
    read the one they find meanwhile (at most one build old)."""
    now = time.time()
    snapshot = await _snapshot_read(event_id)
    if snapshot is not None and _fresh(snapshot, now):
        return snapshot
    if not settings.SEAT_STATUS_SINGLE_FLIGHT:
        return await _build(event_id, snapshot)  # the debug switch: every stale reader builds
    lock = get_async_redis().lock(_lock_key(event_id), timeout=BUILD_LOCK_MS / 1000, blocking=False)
    if await lock.acquire():
        try:
            current = await _snapshot_read(event_id)
            if current is not None and _fresh(current, time.time()):
                return current  # another reader built it between our read and our lock
            return await _build(event_id, current)
        finally:
            with contextlib.suppress(LockError):  # held past its timeout: another builder has it now
                await lock.release()
    if snapshot is not None:
        return snapshot
    deadline = time.monotonic() + FIRST_BUILD_WAIT_SECONDS
    while time.monotonic() < deadline:  # the very first build is another reader's: wait for it
        await asyncio.sleep(0.02)
        snapshot = await _snapshot_read(event_id)
        if snapshot is not None:
            return snapshot
    return await _build(event_id, None)


async def _current(event_id: int) -> tuple[int, int, Snapshot | None]:
    """(version, seat count, the snapshot when it had to be read whole): while
    the snapshot is fresh only its small fields are read, not the statuses."""
    version, built_at, next_lapse, count = await get_async_redis().hmget(
        _snapshot_key(event_id), "version", "built_at", "next_lapse", "count"
    )
    if version is not None and built_at is not None and count is not None:
        now = time.time()
        young = now - float(built_at) < settings.SEAT_STATUS_MAX_AGE_SECONDS
        if young and (not next_lapse or now < float(next_lapse)):
            return int(version), int(count), None
    snapshot = await snapshot_get_async(event_id=event_id)
    return snapshot.version, len(snapshot.statuses), snapshot


async def snapshot_version_async(*, event_id: int) -> int:
    """The current version (what the seat page's push asks several times a second)."""
    return (await _current(event_id))[0]


#: For synchronous callers (the Django view, tests): the same code on an event loop.
snapshot_get = async_to_sync(snapshot_get_async)


async def _changes(event_id: int, since: int, version: int) -> dict[int, str] | None:
    """Layout position -> status character of the seats changed after version
    ``since`` up to ``version`` (the newest change of a seat wins); None when
    the history does not reach back to ``since``."""
    changed: dict[int, str] = {}
    client = get_async_redis()
    # A viewer asks about once a second: its version is among the newest few.
    for first, last in ((0, RECENT_VERSIONS - 1), (RECENT_VERSIONS, -1)):
        for entry in await client.lrange(_history_key(event_id), first, last):
            start, end, items = entry.decode().split(":", 2)
            if int(end) > version:
                continue  # a newer build than the version answered: its seats are in the next answer
            if int(end) <= since:
                return changed
            for item in filter(None, items.split(",")):
                changed.setdefault(int(item[:-1]), item[-1])
            if int(start) == since:
                return changed
    return None


@dataclass(frozen=True)
class StatusAnswer:
    """What the status read answers: ``body`` None is 304; ``gzipped`` is the
    full form's stored bytes (sent as they are to a client that takes gzip)."""

    body: dict[str, Any] | None
    gzipped: bytes | None = None


async def _full(event_id: int, snapshot: Snapshot | None) -> StatusAnswer:
    if snapshot is None:
        snapshot = await snapshot_get_async(event_id=event_id)
    return StatusAnswer({"version": snapshot.version, "statuses": snapshot.statuses}, snapshot.full_gzipped)


async def status_answer_async(*, event_id: int, since: int | None) -> StatusAnswer:
    """304 when nothing changed since ``since``, the change list when
    ``since`` is known and the list is shorter, else the full form. A
    refresh with ``since`` reads the snapshot's small fields and the change
    history, never the 50,000 statuses."""
    version, count, snapshot = await _current(event_id)
    if since is None or since > version:
        return await _full(event_id, snapshot)
    if since == version:
        return StatusAnswer(None)
    changed = await _changes(event_id, since, version)
    if changed is None:
        return await _full(event_id, snapshot)
    seat_ids = (await layout_get_async(event_id=event_id)).seat_ids
    if len(seat_ids) != count:
        await sync_db(layout_forget)(event_id=event_id)  # seats came or went without a signal: build both again
        return await _full(event_id, snapshot)
    changes = [[seat_ids[i], STATUS_WORDS[changed[i]]] for i in sorted(changed)]
    if len(json.dumps(changes)) >= count:
        return await _full(event_id, snapshot)
    return StatusAnswer({"version": version, "changes": changes})


status_answer = async_to_sync(status_answer_async)

#: Change lists past this are gzipped for a client that takes gzip.
GZIP_FROM_BYTES = 512


def status_wire(answer: StatusAnswer, *, takes_gzip: bool) -> tuple[int, dict[str, str], bytes]:
    """The answer as both entry points (the view, the fast path) send it:
    status, headers, body. The full form is the snapshot's stored gzip."""
    headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if answer.body is None:
        return 304, headers, b""
    headers["Content-Type"] = "application/json"
    if takes_gzip and answer.gzipped is not None:
        return 200, {**headers, "Content-Encoding": "gzip"}, answer.gzipped
    body = json.dumps(answer.body, separators=(",", ":")).encode()
    if takes_gzip and len(body) >= GZIP_FROM_BYTES:
        return 200, {**headers, "Content-Encoding": "gzip"}, gzip.compress(body, compresslevel=6, mtime=0)
    return 200, headers, body
