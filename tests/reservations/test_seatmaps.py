"""Seat maps from a spec: counts, grades, positions, uniqueness, and bad
specs refused with a clear error before anything is written."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Invalid
from reservations.models import Event, PriceGrade, Seat, Venue
from reservations.seatmaps import MAX_SEATS_PER_EVENT, seat_map_generate, seat_map_parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> Event:
    now = timezone.now()
    venue = Venue.objects.create(name="Arena")
    return Event.objects.create(name="Show", venue=venue, starts_at=now, sale_opens_at=now)


def test_generate_makes_every_seat_with_its_grade_and_position(event):
    made = seat_map_generate(event=event, spec="A:2x3:R:150000, B:1x4:S:90000")

    assert made == 10
    assert Seat.objects.filter(event=event).count() == 10
    grades = {g.code: g.price for g in PriceGrade.objects.filter(event=event)}
    assert grades == {"R": 150000, "S": 90000}
    positions = set(
        Seat.objects.filter(event=event).values_list("section", "row", "row_index", "number", "grade__code")
    )
    expected = {("A", str(r), r, n, "R") for r in (1, 2) for n in (1, 2, 3)} | {
        ("B", "1", 1, n, "S") for n in range(1, 5)
    }
    assert positions == expected
    assert set(Seat.objects.filter(event=event).values_list("status", "hold", "held_until")) == {
        ("available", None, None)
    }


def test_sections_sharing_a_grade_share_one_price_grade(event):
    seat_map_generate(event=event, spec="A:1x2:R:1000,B:1x3:R:1000")

    grade = PriceGrade.objects.get(event=event)
    assert (grade.code, grade.price) == ("R", 1000)
    assert grade.seats.count() == 5


def test_new_sections_can_be_added_later_reusing_an_existing_grade(event):
    seat_map_generate(event=event, spec="A:1x2:R:1000")
    made = seat_map_generate(event=event, spec="B:2x2:R:1000,C:1x1:VIP:5000")

    assert made == 5
    assert Seat.objects.filter(event=event).count() == 7
    assert dict(PriceGrade.objects.filter(event=event).values_list("code", "price")) == {"R": 1000, "VIP": 5000}


def test_seat_positions_are_unique_in_the_database(event):
    seat_map_generate(event=event, spec="A:1x2:R:1000")
    seat = Seat.objects.filter(event=event).first()

    with pytest.raises(IntegrityError), transaction.atomic():
        Seat.objects.create(
            event=event,
            section=seat.section,
            row=seat.row,
            row_index=seat.row_index,
            number=seat.number,
            grade=seat.grade,
        )


def test_two_events_may_use_the_same_positions(event):
    other = Event.objects.create(
        name="Other", venue=event.venue, starts_at=event.starts_at, sale_opens_at=event.sale_opens_at
    )
    seat_map_generate(event=event, spec="A:1x2:R:1000")
    seat_map_generate(event=other, spec="A:1x2:R:2000")

    assert Seat.objects.filter(section="A", row="1", number=1).count() == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("  ,  ", "empty"),
        ("A:10x20:R", "expected NAME:ROWSxSEATS:GRADE:PRICE"),
        ("A:10*20:R:100", "expected NAME:ROWSxSEATS:GRADE:PRICE"),
        ("A B:1x1:R:100", "expected NAME:ROWSxSEATS:GRADE:PRICE"),
        ("A:1x1:R:-5", "expected NAME:ROWSxSEATS:GRADE:PRICE"),
        ("A:0x5:R:100", "at least one row"),
        ("A:5x0:R:100", "at least one row"),
        ("A:1x1:R:0", "positive price"),
        ("A:1x1:R:100,A:1x2:R:100", "appears twice"),
        ("A:1x1:R:100,B:1x1:R:200", "two prices"),
        ("A:9999x9999:R:100", f"at most {MAX_SEATS_PER_EVENT}"),
        ("A:1x1:R:100,B:oops", "Bad section 'B:oops'"),
    ],
)
def test_bad_spec_is_refused_with_a_clear_error_and_creates_nothing(event, spec, message):
    with pytest.raises(Invalid) as caught:
        seat_map_generate(event=event, spec=spec)

    assert caught.value.code == "invalid"
    assert message in caught.value.detail
    assert not Seat.objects.exists()
    assert not PriceGrade.objects.exists()


def test_parse_reads_every_section():
    sections = seat_map_parse("A:10x20:R:150000,B:5x10:S:90000")

    assert [(s.name, s.rows, s.seats_per_row, s.grade, s.price, s.seat_count) for s in sections] == [
        ("A", 10, 20, "R", 150000, 200),
        ("B", 5, 10, "S", 90000, 50),
    ]


def test_an_existing_section_is_refused_and_nothing_is_added(event):
    seat_map_generate(event=event, spec="A:1x2:R:1000")

    with pytest.raises(Invalid, match="already exist"):
        seat_map_generate(event=event, spec="B:3x3:S:500,A:1x1:R:1000")

    assert Seat.objects.filter(event=event).count() == 2
    assert list(PriceGrade.objects.filter(event=event).values_list("code", flat=True)) == ["R"]


def test_a_grade_with_a_different_existing_price_is_refused_and_nothing_is_added(event):
    seat_map_generate(event=event, spec="A:1x2:R:1000")

    with pytest.raises(Invalid, match="already costs 1000"):
        seat_map_generate(event=event, spec="C:1x1:VIP:9000,B:1x1:R:2000")

    assert Seat.objects.filter(event=event).count() == 2
    assert list(PriceGrade.objects.filter(event=event).values_list("code", flat=True)) == ["R"]


def test_generation_writes_in_few_queries_whatever_the_size(event, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        made = seat_map_generate(event=event, spec="A:40x50:R:1000,B:30x40:S:500")

    assert made == 3200
    assert Seat.objects.filter(event=event).count() == 3200
