"""Events, venues, price grades, seats, holds, orders and tickets.

Every rule that can be a database constraint is one: a seat is unique per
event and position, prices are positive, statuses are from their lists, a
seat's status agrees with its hold, a seat is in at most one valid ticket, a
hold makes at most one order, and an idempotency key is unique per user.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from core.errors import Conflict
from reservations.availability import hold_is_live
from reservations.errors import error_messages


class Venue(models.Model):
    name = models.CharField(max_length=200, unique=True)
    city = models.CharField(max_length=120, blank=True)
    address = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def draw_seed_new() -> str:
    """A fresh secret seed for an event's pre-queue draw (32 random bytes, hex)."""
    return secrets.token_hex(32)


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
    prequeue_opens_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Opens the pre-queue: who joins before the sale opens is placed by a random draw "
        "at the opening, ahead of everyone who joins later (empty: no pre-queue).",
    )
    draw_seed = models.CharField(
        max_length=64,
        default=draw_seed_new,
        editable=False,
        help_text="The pre-queue draw's secret seed (hex); only its SHA-256 is public until the draw.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ON_SALE)
    currency = models.CharField(max_length=3, default="KRW")
    max_tickets_per_user = models.PositiveSmallIntegerField(default=3)
    hold_seconds = models.PositiveIntegerField(default=420)
    admission_seconds = models.PositiveIntegerField(default=600)
    challenge_bits = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(32)],
        help_text="Zero bits of proof of work a first join must show (0: no challenge; 16-20 take a browser seconds).",
    )
    arrival_seconds = models.PositiveIntegerField(
        default=60,
        help_text="An admitted person who has not opened the seat map or held a seat by then loses the "
        "admission to the next person (0: no arrival window).",
    )
    cancel_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Buyers may cancel their orders (seats back on sale, payment refunded) until then "
        "(empty: no cancellation by buyers; the organizer can still refund).",
    )
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
            models.CheckConstraint(
                condition=Q(prequeue_opens_at__isnull=True)
                | Q(prequeue_opens_at__lt=models.F("sale_opens_at"), queue_enabled=True),
                name="event_prequeue_before_sale_with_queue",
                violation_error_message=gettext_lazy(
                    "A pre-queue opens before the sale, on an event with a waiting queue."
                ),
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

    def clean(self) -> None:
        """An opened pre-queue stays: its entries already wait at their drawn
        places, ahead of every later join, which only the draw's order explains."""
        super().clean()
        if self.pk is None or self.prequeue_opens_at is not None:
            return
        before = Event.objects.filter(pk=self.pk).values_list("prequeue_opens_at", flat=True).first()
        if before is not None and before <= timezone.now():
            raise ValidationError(
                {"prequeue_opens_at": gettext_lazy("The pre-queue has opened: it can be moved, not removed.")}
            )

    def prequeue_is_open(self, now: datetime | None = None) -> bool:
        """True in the pre-queue window: from ``prequeue_opens_at`` until the sale opens."""
        now = now or timezone.now()
        return self.prequeue_opens_at is not None and self.prequeue_opens_at <= now < self.sale_opens_at

    @property
    def draw_commitment(self) -> str:
        """The public SHA-256 (hex) of the draw's secret seed, fixed before the first entry."""
        return hashlib.sha256(bytes.fromhex(self.draw_seed)).hexdigest()

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

    def sale_refusal(
        self, *, seats_unsold: int, now: datetime | None = None, paused_ok: bool = False, prequeue_ok: bool = False
    ) -> Conflict | None:
        """Why the sale refuses a join or a hold now, or None: the one mapping
        from the public status to the contract's ``sale_not_open`` /
        ``sale_paused`` / ``sold_out`` / ``sale_closed``. The queue takes
        joins while paused (``paused_ok``: it keeps its order, admits nobody)
        and in the pre-queue window (``prequeue_ok``; before it, ``opens_at``
        names the pre-queue's opening); holds are refused then."""
        now = now or timezone.now()
        public = self.public_status(seats_unsold=seats_unsold, now=now)
        prequeue = prequeue_ok and self.prequeue_opens_at is not None
        if prequeue and now < self.prequeue_opens_at and public != self.PublicStatus.CLOSED:
            opens_at = self.prequeue_opens_at.isoformat()
            return Conflict("sale_not_open", error_messages["sale_not_open"], opens_at=opens_at)
        if public == self.PublicStatus.SCHEDULED and not prequeue:
            return Conflict("sale_not_open", error_messages["sale_not_open"], opens_at=self.sale_opens_at.isoformat())
        if public == self.PublicStatus.PAUSED and not paused_ok:
            return Conflict("sale_paused", error_messages["sale_paused"])
        if public == self.PublicStatus.SOLD_OUT:
            return Conflict("sold_out", error_messages["sold_out"])
        if public == self.PublicStatus.CLOSED:
            return Conflict("sale_closed", error_messages["sale_closed"])
        return None

    def cancel_open(self, *, now: datetime | None = None) -> bool:
        """Buyers may still cancel their orders: there is a deadline and it is ahead."""
        return self.cancel_until is not None and (now or timezone.now()) < self.cancel_until


class Draw(models.Model):
    """The outcome of an event's pre-queue draw, written once when it is made:
    the entry ids in drawn order (a JSON array, as ``GET .../draw/entries/``
    serves it, gzipped; the column is ``STORAGE EXTERNAL``, see the
    migration), so anyone can check the order against the revealed seed."""

    event = models.OneToOneField(Event, on_delete=models.CASCADE, primary_key=True, related_name="draw")
    drawn_at = models.DateTimeField()
    entrants = models.PositiveIntegerField()
    entries = models.BinaryField(help_text="The JSON array of entry ids in drawn order (UTF-8).")

    def __str__(self) -> str:
        return f"Draw of event {self.event_id} ({self.entrants} entrants)"


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

    # No index of their own: seat_unique_position starts with event_id, and a
    # seat row is rewritten three times an order (docs/decisions.md, "Indexes
    # that earn their writes"); a grade is looked up alone only on delete.
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="seats", db_index=False)
    section = models.CharField(max_length=16)
    row = models.CharField(max_length=8)
    row_index = models.PositiveSmallIntegerField(help_text="Row order in its section: 1 is nearest the stage.")
    number = models.PositiveIntegerField()
    grade = models.ForeignKey(PriceGrade, on_delete=models.PROTECT, related_name="seats", db_index=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    hold = models.ForeignKey("Hold", on_delete=models.SET_NULL, null=True, blank=True, related_name="seats")
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event", "section", "row_index", "number"]
        indexes = [
            models.Index(fields=["event", "grade", "status"], name="seat_event_grade_status"),
            # Best available walks this index in quality order; held and sold seats drop out of it.
            models.Index(
                fields=["event", "grade", "row_index", "section", "number"],
                condition=Q(status="available"),
                name="seat_best_available",
            ),
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


class Shopper(models.Model):
    """One person at one event. Every hold transaction locks this row first,
    so one person's parallel requests run one after the other and cannot
    pass the per-person limit together."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="shoppers", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shoppers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "user"], name="shopper_unique_per_event")]

    def __str__(self) -> str:
        return f"user {self.user_id} at event {self.event_id}"


class Hold(models.Model):
    """A shopper's claim on up to ``max_tickets_per_user`` seats for a few minutes.

    ``seat_ids`` and ``total`` record what was held, so the hold still reads
    the same after its seats went back on sale. ``paying_until`` is set while
    a checkout is paying: expiry leaves the hold alone until then. A hold
    returned by ``hold_create`` also carries ``seats_written`` (not a field):
    its seats as the answer shows them, from the statement that wrote them.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        EXPIRED = "expired"
        RELEASED = "released"
        CHECKED_OUT = "checked_out"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="holds")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="holds", db_index=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField()
    seat_ids = ArrayField(models.BigIntegerField(), default=list)
    total = models.PositiveBigIntegerField(default=0)
    paying_until = models.DateTimeField(null=True, blank=True)
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
            models.CheckConstraint(
                condition=Q(paying_until__isnull=True) | Q(status="active"), name="hold_paying_only_active"
            ),
        ]

    def __str__(self) -> str:
        return f"Hold {self.pk} ({self.status})"

    def public_status(self, *, now: datetime | None = None) -> str:
        """Lazy expiry: an active hold past its expiry (and not being paid) reads ``expired``."""
        now = now or timezone.now()
        if self.status == self.Status.ACTIVE and not hold_is_live(self.status, self.expires_at, self.paying_until, now):
            return self.Status.EXPIRED
        return self.status


class Order(models.Model):
    """What a checkout makes: one per hold (a unique constraint), paid or refunded."""

    class Status(models.TextChoices):
        PAID = "paid"
        REFUNDED = "refunded"

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="orders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", db_index=False)
    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="order")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PAID)
    total = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "event"], name="order_user_event")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["paid", "refunded"]), name="order_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.status})"


class Ticket(models.Model):
    """One sold seat. ``valid`` admits its holder once: a check-in makes it
    ``checked_in`` (who scanned it and when are kept); a cancellation or a
    refund makes it ``void`` (``refund`` is the refund it is part of).

    A partial unique index makes a seat part of at most one ticket that is
    not void, and a ticket that was checked in can never be void: its
    ``checked_in_at`` stays, and the database allows it only on a checked-in
    ticket."""

    class Status(models.TextChoices):
        VALID = "valid"
        CHECKED_IN = "checked_in"
        VOID = "void"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="tickets")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="tickets", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tickets", db_index=False)
    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="tickets")
    code = models.CharField(max_length=64, unique=True)
    price = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.VALID)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets_scanned",
        db_index=False,  # ticket_checked_in_by: partial, a sale writes no entry
    )
    refund = models.ForeignKey(
        "Refund", on_delete=models.PROTECT, null=True, blank=True, related_name="tickets", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["user", "event", "status"], name="ticket_user_event_status"),
            # The person's own columns last: a per-person count the planner
            # sends here (it may, while an event's tickets are missing from the
            # statistics) still reads one entry, not every ticket of the event.
            models.Index(fields=["event", "status", "user"], name="ticket_event_status_user"),
            # Most tickets are never scanned by hand nor refunded: no entry for them.
            models.Index(
                fields=["checked_in_by"], condition=Q(checked_in_by__isnull=False), name="ticket_checked_in_by"
            ),
            models.Index(fields=["refund"], condition=Q(refund__isnull=False), name="ticket_refund"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["seat"], condition=Q(status__in=["valid", "checked_in"]), name="ticket_one_live_per_seat"
            ),
            models.CheckConstraint(condition=Q(status__in=["valid", "checked_in", "void"]), name="ticket_status_valid"),
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Za-z0-9_-]{16,}$"), name="ticket_code_long"),
            models.CheckConstraint(
                condition=Q(status="checked_in", checked_in_at__isnull=False)
                | (~Q(status="checked_in") & Q(checked_in_at__isnull=True, checked_in_by__isnull=True)),
                name="ticket_checked_in_recorded",
            ),
            models.CheckConstraint(condition=Q(status="void") | Q(refund__isnull=True), name="ticket_refund_only_void"),
        ]
        permissions = [("scan_ticket", "Can check tickets in at the door")]

    def __str__(self) -> str:
        return f"Ticket {self.code[:6]}..."


class Refund(models.Model):
    """Money owed back for voided tickets, as an outbox row: written in the
    transaction that voids them, settled after commit by a gateway call
    outside any lock, and retried by reconciliation until the gateway has
    taken it (``reservations.settlement.refund_settle``). ``key`` is the
    refund's own idempotency key at the gateway, so a retry after a crash or
    a timeout is the same refund, never a second one."""

    class Status(models.TextChoices):
        PENDING = "pending"
        REFUNDED = "refunded"

    class Reason(models.TextChoices):
        BUYER = "buyer", "Cancelled by the buyer"
        ORGANIZER = "organizer", "Refunded by the organizer"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey("Payment", on_delete=models.PROTECT, related_name="refunds")
    amount = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds_requested"
    )
    gateway_attempts = models.PositiveIntegerField(default=0, help_text="Failed refund calls so far.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["updated_at"], condition=Q(status="pending"), name="refund_pending")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=["pending", "refunded"]), name="refund_status_valid"),
            models.CheckConstraint(condition=Q(reason__in=["buyer", "organizer"]), name="refund_reason_valid"),
            models.CheckConstraint(
                condition=Q(status="refunded", refunded_at__isnull=False)
                | Q(status="pending", refunded_at__isnull=True),
                name="refund_refunded_at_refunded",
            ),
        ]

    def __str__(self) -> str:
        return f"Refund {self.pk} of order {self.order_id} ({self.status})"

    @property
    def key(self) -> str:
        """The refund's idempotency key at the gateway."""
        return f"refund-{self.pk}"


class Payment(models.Model):
    """One checkout request, keyed by the client's ``Idempotency-Key``.

    ``charge_key`` is the idempotency key sent to the gateway; it changes
    only when a failed attempt (nothing charged) is retried, so a replay can
    never charge twice.

    ``voiding`` is a debt to the buyer: a charge that never became a sale,
    which the gateway must give back. It is written before the gateway is
    called and left only when it has answered, so a crash or an outage
    leaves it for reconciliation (``reservations.reconciliation``), which
    retries with backoff (``gateway_attempts``, ``next_attempt_at``). Money
    given back after a sale is a ``Refund`` row each (tickets may be
    refunded one by one); the payment is ``refunding`` once its whole order
    is refunded and ``refunded`` when the last of its refunds went through.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        PAID = "paid"
        DECLINED = "declined"
        FAILED = "failed"
        VOIDING = "voiding"
        VOIDED = "voided"
        REFUNDING = "refunding"
        REFUNDED = "refunded"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, related_name="payments")
    idempotency_key = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    attempt = models.PositiveIntegerField(default=1)
    amount = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    charge_id = models.CharField(max_length=100, blank=True)
    order = models.OneToOneField(Order, on_delete=models.PROTECT, null=True, blank=True, related_name="payment")
    error = models.CharField(max_length=300, blank=True)
    gateway_attempts = models.PositiveIntegerField(default=0, help_text="Failed void or refund calls so far.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["in_progress", "voiding", "refunding"]),
                name="payment_unsettled",
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="payment_unique_idempotency_key"),
            models.UniqueConstraint(fields=["hold"], condition=Q(status="paid"), name="payment_one_paid_per_hold"),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        *["in_progress", "paid", "declined", "failed"],
                        *["voiding", "voided", "refunding", "refunded"],
                    ]
                ),
                name="payment_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(order__isnull=True) | Q(status__in=["paid", "refunding", "refunded"]),
                name="payment_order_only_paid",
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.pk} ({self.status})"

    @property
    def charge_key(self) -> str:
        return payment_charge_key(self.pk, self.attempt)


def payment_charge_key(payment_id: int, attempt: int) -> str:
    """The idempotency key sent to the gateway for one attempt of a payment."""
    return f"payment-{payment_id}-{attempt}"


class Confirmation(models.Model):
    """The order confirmation email, as a transactional outbox row: written in
    the sale's transaction, sent after commit by whoever claims it first.

    A sender claims a row by setting ``lease_until`` (no two senders hold it
    at once; a sender that died lets its lease run out and the row is sent
    again). ``next_attempt_at`` spaces out retries; after
    ``CONFIRMATION_MAX_ATTEMPTS`` failures the row is ``failed`` (the admin
    can resend it).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="confirmation")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    to = models.EmailField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status"], name="confirmation_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sent", "failed"]), name="confirmation_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(sent_at__isnull=True) | Q(status="sent"), name="confirmation_sent_at_sent"
            ),
        ]

    def __str__(self) -> str:
        return f"Confirmation of order {self.order_id} ({self.status})"
