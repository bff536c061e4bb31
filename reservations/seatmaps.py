"""Seat maps from a spec: ``NAME:ROWSxSEATS:GRADE:PRICE[,...]``.

``A:10x20:R:150000,B:5x10:S:90000`` is section A with 10 rows of 20 seats at
grade R (150000 minor units) and section B with 5 rows of 10 at grade S.
Rows are labelled ``1..ROWS`` (1 nearest the stage), seats ``1..SEATS``.
Generation is one ``bulk_create`` of the new price grades and one
PostgreSQL ``COPY ... FROM STDIN`` of the seats, inside one transaction: a
50,000-seat map takes well under a second (``bench/seatmap.py``), a bad spec
raises before anything is written, and any failure leaves nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, transaction

from core.errors import Invalid
from reservations.models import Event, PriceGrade, Seat

MAX_SEATS_PER_EVENT = 200_000
_SECTION_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9_-]{1,16}):(?P<rows>\d{1,4})x(?P<seats>\d{1,4}):(?P<grade>[A-Za-z0-9_-]{1,16}):(?P<price>\d{1,12})$"
)


@dataclass(frozen=True)
class SectionSpec:
    name: str
    rows: int
    seats_per_row: int
    grade: str
    price: int

    @property
    def seat_count(self) -> int:
        return self.rows * self.seats_per_row


def seat_map_parse(spec: str) -> list[SectionSpec]:
    """Parse and check a spec; raise :class:`Invalid` with a clear sentence."""
    parts = [part.strip() for part in (spec or "").split(",") if part.strip()]
    if not parts:
        raise Invalid("The seat map spec is empty; expected NAME:ROWSxSEATS:GRADE:PRICE[,...].")
    sections: list[SectionSpec] = []
    grade_prices: dict[str, int] = {}
    for part in parts:
        match = _SECTION_RE.match(part)
        if not match:
            raise Invalid(f"Bad section {part!r}: expected NAME:ROWSxSEATS:GRADE:PRICE, e.g. A:10x20:R:150000.")
        section = SectionSpec(
            name=match["name"],
            rows=int(match["rows"]),
            seats_per_row=int(match["seats"]),
            grade=match["grade"],
            price=int(match["price"]),
        )
        if section.rows < 1 or section.seats_per_row < 1:
            raise Invalid(f"Section {section.name!r} needs at least one row and one seat per row.")
        if section.price < 1:
            raise Invalid(f"Section {section.name!r} needs a positive price.")
        if any(s.name == section.name for s in sections):
            raise Invalid(f"Section {section.name!r} appears twice.")
        if grade_prices.setdefault(section.grade, section.price) != section.price:
            raise Invalid(f"Grade {section.grade!r} is given two prices.")
        sections.append(section)
    total = sum(s.seat_count for s in sections)
    if total > MAX_SEATS_PER_EVENT:
        raise Invalid(f"The spec makes {total} seats; at most {MAX_SEATS_PER_EVENT} are allowed per event.")
    return sections


@transaction.atomic
def seat_map_generate(*, event: Event, spec: str) -> int:
    """Add the spec's sections to ``event``; return the number of seats made.

    A section name already on the event, or a grade whose existing price
    differs, is refused, so nothing is ever half generated.
    """
    sections = seat_map_parse(spec)
    existing_sections = set(
        Seat.objects.filter(event=event, section__in=[s.name for s in sections]).values_list("section", flat=True)
    )
    if existing_sections:
        raise Invalid(f"Section(s) {', '.join(sorted(existing_sections))} already exist on this event.")
    grades = {g.code: g for g in PriceGrade.objects.filter(event=event)}
    new_grades = []
    for section in sections:
        grade = grades.get(section.grade)
        if grade is None:
            grade = PriceGrade(event=event, code=section.grade, price=section.price)
            grades[section.grade] = grade
            new_grades.append(grade)
        elif grade.price != section.price:
            raise Invalid(f"Grade {section.grade!r} already costs {grade.price} on this event.")
    PriceGrade.objects.bulk_create(new_grades)
    return _seats_copy(event_id=event.pk, sections=sections, grade_ids={code: g.pk for code, g in grades.items()})


def _seat_lines(
    *, event_id: int, sections: list[SectionSpec], grade_ids: dict[str, int]
) -> Iterator[tuple[int, str, str, int, int, int, str]]:
    available = Seat.Status.AVAILABLE.value
    for section in sections:
        grade_id = grade_ids[section.grade]
        for row in range(1, section.rows + 1):
            row_label = str(row)
            for number in range(1, section.seats_per_row + 1):
                yield (event_id, section.name, row_label, row, number, grade_id, available)


def _seats_copy(*, event_id: int, sections: list[SectionSpec], grade_ids: dict[str, int]) -> int:
    """Write the seats with one ``COPY`` (the database still checks every
    constraint); building 50,000 model instances for ``bulk_create`` costs
    several times more than the insert itself."""
    fields = ["event", "section", "row", "row_index", "number", "grade", "status"]
    columns = ", ".join(connection.ops.quote_name(Seat._meta.get_field(name).column) for name in fields)
    table = connection.ops.quote_name(Seat._meta.db_table)
    made = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for line in _seat_lines(event_id=event_id, sections=sections, grade_ids=grade_ids):
            copy.write_row(line)
            made += 1
    return made
