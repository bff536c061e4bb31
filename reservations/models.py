"""Events, venues, price grades, seats and holds.

Every rule that can be a database constraint is one: a seat is unique per
event and position, prices are positive, statuses are from their lists, and
a seat's status agrees with its hold.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Venue(models.Model):
    name = models.CharField(max_length=200, unique=True)
    city = models.CharField(max_length=120, blank=True)
    address = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    """An on-sale. ``status`` is the organizer's switch; the public status
    (``public_status``) also follows the clock and the stock."""

    class Status(models.TextChoices):
        ON_SALE = "on_sale", "Selling within its sale window"
        PAUSED = "paused", "Paused by the organizer"
        CLOSED = "closed", "Closed by the organizer"

    class PublicStatus(models.TextChoices):
        SCHEDULED = "scheduled"
        ON_SALE = "on_sale"
        PAUSED = "paused"
        SOLD_OUT = "sold_out"
        CLOSED = "closed"

    name = models.CharField(max_length=200)
    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="events")
    starts_at = models.DateTimeField()
    sale_opens_at = models.DateTimeField()
    sale_closes_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ON_SALE)
    currency = models.CharField(max_length=3, default="KRW")
    max_tickets_per_user = models.PositiveSmallIntegerField(default=3)
    hold_seconds = models.PositiveIntegerField(default=420)
    admission_seconds = models.PositiveIntegerField(default=600)
    queue_enabled = models.BooleanField(default=True)
    admission_batch_size = models.PositiveIntegerField(default=100, help_text="People admitted per round.")
    admission_interval_seconds = models.PositiveIntegerField(default=2, help_text="Seconds between rounds.")
    admission_cap = models.PositiveIntegerField(default=1000, help_text="Most shoppers admitted at once.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sale_opens_at", "id"]
        indexes = [models.Index(fields=["status", "sale_opens_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["on_sale", "paused", "closed"]), name="event_status_valid"),
            models.CheckConstraint(
                condition=Q(sale_closes_at__isnull=True) | Q(sale_closes_at__gt=models.F("sale_opens_at")),
                name="event_sale_window_valid",
            ),
            models.CheckConstraint(condition=Q(max_tickets_per_user__gte=1), name="event_max_tickets_positive"),
            models.CheckConstraint(condition=Q(hold_seconds__gte=1), name="event_hold_seconds_positive"),
            models.CheckConstraint(condition=Q(admission_seconds__gte=1), name="event_admission_seconds_positive"),
            models.CheckConstraint(condition=Q(admission_batch_size__gte=1), name="event_batch_positive"),
            models.CheckConstraint(condition=Q(admission_interval_seconds__gte=1), name="event_interval_positive"),
            models.CheckConstraint(condition=Q(admission_cap__gte=1), name="event_cap_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def public_status(self, *, seats_unsold: int, now: datetime | None = None) -> str:
        """The contract's status: the organizer's switch first, then the
        sale window, then the stock (sold out once every seat is sold)."""
        now = now or timezone.now()
        if self.status == self.Status.PAUSED:
            return self.PublicStatus.PAUSED
        if self.status == self.Status.CLOSED:
            return self.PublicStatus.CLOSED
        if self.sale_closes_at is not None and now >= self.sale_closes_at:
            return self.PublicStatus.CLOSED
        if now < self.sale_opens_at:
            return self.PublicStatus.SCHEDULED
        if seats_unsold <= 0:
            return self.PublicStatus.SOLD_OUT
        return self.PublicStatus.ON_SALE


class PriceGrade(models.Model):
    """A price level of an event's seat map (``R``, ``S``, ``VIP`` ...)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="price_grades")
    code = models.CharField(max_length=16)
    price = models.PositiveIntegerField(help_text="Minor units of the event's currency.")

    class Meta:
        ordering = ["event", "-price", "code"]
        constraints = [
            models.UniqueConstraint(fields=["event", "code"], name="price_grade_unique_per_event"),
            models.CheckConstraint(condition=Q(price__gt=0), name="price_grade_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.price})"


class Seat(models.Model):
    """One seat of one event. ``held_until`` copies the hold's expiry so that
    a single index scan can treat lapsed holds as free (lazy expiry)."""

    class Status(models.TextChoices):
        AVAILABLE = "available"
        HELD = "held"
        SOLD = "sold"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="seats")
    section = models.CharField(max_length=16)
    row = models.CharField(max_length=8)
    row_index = models.PositiveSmallIntegerField(help_text="Row order in its section: 1 is nearest the stage.")
    number = models.PositiveIntegerField()
    grade = models.ForeignKey(PriceGrade, on_delete=models.PROTECT, related_name="seats")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    hold = models.ForeignKey("Hold", on_delete=models.SET_NULL, null=True, blank=True, related_name="seats")
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event", "section", "row_index", "number"]
        indexes = [
            models.Index(fields=["event", "grade", "status"], name="seat_event_grade_status"),
            models.Index(fields=["held_until"], condition=Q(status="held"), name="seat_held_until"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "section", "row", "number"], name="seat_unique_position"),
            models.CheckConstraint(condition=Q(status__in=["available", "held", "sold"]), name="seat_status_valid"),
            models.CheckConstraint(
                condition=(
                    Q(status="available", hold__isnull=True, held_until__isnull=True)
                    | Q(status="held", hold__isnull=False, held_until__isnull=False)
                    | Q(status="sold", held_until__isnull=True)
                ),
                name="seat_status_matches_hold",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="seat_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.section}-{self.row}-{self.number}"


class Hold(models.Model):
    """A shopper's claim on up to ``max_tickets_per_user`` seats for a few minutes."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        EXPIRED = "expired"
        RELEASED = "released"
        CHECKED_OUT = "checked_out"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="holds")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="holds")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "event", "status"], name="hold_user_event_status"),
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="hold_active_expires"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "expired", "released", "checked_out"]), name="hold_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Hold {self.pk} ({self.status})"
