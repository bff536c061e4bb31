"""Seat-map generation speed: a 50,000-seat map from a spec, against the
configured PostgreSQL (``DATABASE_URL``, or the embedded server).

    python bench/seatmap.py

Times ``seat_map_generate`` (parse, grades, one COPY of the seats, commit)
and, for comparison, the plain ``bulk_create`` it replaced. Each run makes a
fresh event and deletes it afterwards. Last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from reservations.models import Event, PriceGrade, Seat, Venue  # noqa: E402
from reservations.seatmaps import seat_map_generate, seat_map_parse  # noqa: E402

SPEC = "A:100x100:VIP:220000,B:100x150:R:150000,C:100x150:S:90000,D:100x100:A:50000"  # 50,000 seats
RUNS = 3


def _event() -> Event:
    venue, _ = Venue.objects.get_or_create(name="Benchmark Arena")
    now = timezone.now()
    return Event.objects.create(name="seat-map bench", venue=venue, sale_opens_at=now, starts_at=now)


def _bulk_create(*, event: Event, spec: str) -> int:
    """The previous implementation: model instances and ``bulk_create``."""
    sections = seat_map_parse(spec)
    with transaction.atomic():
        grades = {}
        for section in sections:
            grades.setdefault(section.grade, PriceGrade(event=event, code=section.grade, price=section.price))
        PriceGrade.objects.bulk_create(list(grades.values()))
        seats = [
            Seat(event=event, section=s.name, row=str(r), row_index=r, number=n, grade=grades[s.grade])
            for s in sections
            for r in range(1, s.rows + 1)
            for n in range(1, s.seats_per_row + 1)
        ]
        Seat.objects.bulk_create(seats, batch_size=5000)
    return len(seats)


def _time(generate: Callable[..., int]) -> tuple[int, float]:
    event = _event()
    try:
        started = time.perf_counter()
        made = generate(event=event, spec=SPEC)
        return made, time.perf_counter() - started
    finally:
        Seat.objects.filter(event=event).delete()
        PriceGrade.objects.filter(event=event).delete()
        event.delete()


def main() -> None:
    call_command("migrate", verbosity=0)
    copy_times, bulk_times = [], []
    seats = 0
    for run in range(RUNS):
        seats, seconds = _time(seat_map_generate)
        copy_times.append(seconds)
        _, bulk_seconds = _time(_bulk_create)
        bulk_times.append(bulk_seconds)
        print(f"run {run + 1}: COPY {seconds:.3f} s, bulk_create {bulk_seconds:.3f} s for {seats} seats")
    result = {
        "seatmap": {
            "seats": seats,
            "seconds": round(statistics.median(copy_times), 3),
            "bulk_create_seconds": round(statistics.median(bulk_times), 3),
            "runs": RUNS,
        }
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
